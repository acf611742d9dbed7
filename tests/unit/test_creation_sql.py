"""The single statements of creation_sql and of the provider report: SQLAlchemy reads an
execution parameter named like a column of a table the statement changes as a value to SET,
which in a CTE breaks the statement (and at worst would write that value). No parameter may
carry such a name."""

from datetime import UTC, datetime

import pytest
from sqlalchemy.dialects import postgresql

from payments.domain.statuses import EventType
from payments.models import IdempotencyKey, Payment, PaymentLog, UserSubscription
from payments.services import creation_sql, provider_reports, timeline_sql
from payments.services.timeline import TimelineEvent, event_row

CHANGED_TABLES = (Payment, PaymentLog, UserSubscription, IdempotencyKey)
STATEMENTS = {
    "OPEN_PAYMENT": creation_sql.OPEN_PAYMENT,
    "OPEN_PAYMENT_LINKING_KEY": creation_sql.OPEN_PAYMENT_LINKING_KEY,
    "STORE_LINK_WITH_EVENTS": creation_sql.STORE_LINK_WITH_EVENTS,
    "STORE_LINK_COMPLETING_KEY": creation_sql.STORE_LINK_COMPLETING_KEY,
    "provider report": provider_reports._FINISH_WITH_EVENTS,
}


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_no_parameter_is_named_like_a_changed_column(name):
    compiled = STATEMENTS[name].compile(dialect=postgresql.psycopg2.dialect())
    columns = {column.name for model in CHANGED_TABLES for column in model.__table__.columns}
    named = {key for key in compiled.binds if not key.startswith("%(")}
    assert named, "the statement has named parameters"
    assert named & columns == set()


def test_the_values_helpers_fill_every_named_parameter():
    now = datetime.now(UTC)
    event = TimelineEvent(EventType.PAYMENT_CREATED)
    given = {
        **creation_sql.payment_values(dict.fromkeys(creation_sql.PAYMENT_COLUMNS, 1)),
        **timeline_sql.event_values("created", event, None, now),
        "spend_id": 1,
        "key_id": 1,
        "now": now,
    }
    compiled = creation_sql.OPEN_PAYMENT_LINKING_KEY.compile(dialect=postgresql.psycopg2.dialect())
    required = {key for key, bind in compiled.binds.items() if bind.required}
    assert required <= set(given)


def test_timeline_sql_names_every_column_of_a_timeline_row():
    row = event_row(1, TimelineEvent(EventType.PAYMENT_CREATED), None, datetime.now(UTC))
    assert set(row) == {"payment_id", *timeline_sql.EVENT_COLUMNS}
