"""Statements that change one payment found by primary key must use the primary key, whatever
the statistics say about the partial indexes on pending payments (payments/database.py,
hidden_from_partial_indexes). Statistics taken while no payment was pending make PostgreSQL
believe those indexes empty; a plan walking one of them costs every pending payment per call."""

import pytest
from sqlalchemy import text

from payments.domain.statuses import EventType, PaymentStatus
from payments.extensions import db
from payments.models import utcnow
from payments.services import creation_sql, provider_reports, timeline_sql
from payments.services.timeline import TimelineEvent
from tests.support.factories import make_payment
from tests.support.plans import plan_of

_LINK = {"link_payment_id": 1, "link_url": "https://pay.test/x", "link_expires_at": None}


def _event_values(slot):
    event = TimelineEvent(EventType.PROVIDER_REQUEST_SENT, "a timeline row")
    return timeline_sql.event_values(slot, event, None, utcnow())


STATEMENTS = {
    "provider report": (
        provider_reports._FINISH_PENDING,
        {"payment_id": 1, "target": PaymentStatus.FINISHED},
    ),
    "provider report with its events": (
        provider_reports._FINISH_WITH_EVENTS,
        {
            "report_payment_id": 1,
            "target": PaymentStatus.FINISHED,
            **_event_values("report"),
            **_event_values("notice"),
        },
    ),
    "store link": (creation_sql.STORE_LINK, _LINK),
    "store link with its events": (
        creation_sql.STORE_LINK_WITH_EVENTS,
        {**_LINK, **_event_values("sent"), **_event_values("accepted")},
    ),
}


@pytest.mark.parametrize("generic", [False, True], ids=["custom plan", "generic plan"])
@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_a_payment_update_by_id_uses_the_primary_key(app, demo, name, generic):
    """Also as a prepared statement's generic plan (payments/prepared.py), planned without the
    values, which PostgreSQL may switch to from a connection's sixth execution on."""
    statement, params = STATEMENTS[name]
    with app.app_context():
        with db.engine.connect() as connection:
            connection.execute(text("ANALYZE payments"))  # while nothing is pending
            connection.commit()
        for order_id in range(1, 301):  # then a busy hour: pending payments, not analyzed
            make_payment(demo.merchants[0].id, order_id, payment_url=None)
        # 300 rows fit a page or two: let the choice be between indexes, as on a real table.
        plan = plan_of(statement, {**params, "now": utcnow()}, seqscan=False, generic=generic)
    assert "Index Scan using pk_payments" in plan, plan
    assert "ix_payments_pending" not in plan, plan
    assert "uq_payments_open_order" not in plan, plan
