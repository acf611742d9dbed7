"""The provider's signed report of a payment's result: verify, then apply it under a row lock.

The status change, the provider event and the merchant notification (outbox row) commit
together (one statement on PostgreSQL, one transaction on SQLite), so a notification can never
be lost between two writes; the row lock makes two concurrent reports of one payment queue up,
and the second finds the work already done.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import SQLAlchemyError

from payments import messaging
from payments.database import statement_by_statement
from payments.domain.statuses import EventType, PaymentStatus, ProviderReport
from payments.domain.transitions import Transition, classify_transition, status_for_report
from payments.errors import InvalidSignature, InvalidTransition, PaymentNotFound, ValidationFailed
from payments.extensions import db
from payments.models import Payment, PaymentLog, utcnow
from payments.models.payment import pending_with_id
from payments.prepared import prepared
from payments.request_id import current_request_id
from payments.services import outbox, timeline_sql
from payments.services.timeline import TimelineEvent, event_row

MAX_ID = 2**63 - 1

log = logging.getLogger(__name__)


class ReportBodySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    payment_id = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID)
    )
    status = fields.String(
        required=True, validate=validate.OneOf([report.value for report in ProviderReport])
    )


# One instance for every request: a schema keeps no state between loads.
_REPORT_SCHEMA = ReportBodySchema()


@dataclass(frozen=True)
class ReportOutcome:
    payment_id: int
    status: PaymentStatus
    applied: bool  # False: the same report was already applied; nothing was written


def receive_provider_report(secret: str, raw_body: bytes, signature: str | None) -> ReportOutcome:
    """The webhook's whole use case: signature first (401), then the body (422), then apply."""
    verify_signature(secret, raw_body, signature)
    payment_id, report = parse_report(raw_body)
    return apply_provider_report(payment_id, report)


def sign_report(secret: str, raw_body: bytes) -> str:
    """Hex HMAC-SHA256 of the raw body: the `X-Internal-Signature` the provider sends."""
    return hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, raw_body: bytes, signature: str | None) -> None:
    expected = sign_report(secret, raw_body).encode("ascii")
    provided = (signature or "").strip().lower().encode("utf-8", "replace")
    if not hmac.compare_digest(expected, provided):
        raise InvalidSignature()


def parse_report(raw_body: bytes) -> tuple[int, ProviderReport]:
    """The (verified) body as (payment id, report); anything else is a 422."""
    try:
        document = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("The body is not valid JSON.") from None
    if not isinstance(document, dict):
        raise ValidationFailed("The body must be a JSON object.")
    try:
        report = _REPORT_SCHEMA.load(document)
    except ValidationError as error:
        raise ValidationFailed(
            "The request is not valid; see `errors`.", extra={"errors": error.messages}
        ) from None
    return report["payment_id"], ProviderReport(report["status"])


def apply_provider_report(payment_id: int, report: ProviderReport) -> ReportOutcome:
    """Move a pending payment to the reported final status, then wake the notify actor.

    The conditional UPDATE is the row lock: a second report of the same payment waits for the
    first to commit, then finds the payment no longer pending and changes nothing.
    """
    target = status_for_report(report)
    with statement_by_statement(db.engine) as connection:
        if connection.dialect.name == "postgresql":
            log_id = _finish_in_one_statement(connection, payment_id, report, target)
        else:
            log_id = _finish_step_by_step(connection, payment_id, report, target)
    if log_id is None:
        return _not_pending(payment_id, target, report)
    # Fast path; if the broker refuses, the row is committed and the next sweep delivers it.
    if not messaging.send_notify(log_id):
        _hand_to_sweep(log_id)
    return ReportOutcome(payment_id, target, applied=True)


def _finish_in_one_statement(
    connection: Connection, payment_id: int, report: ProviderReport, target: PaymentStatus
) -> int | None:
    """PostgreSQL, in autocommit: the payment is read, then ONE statement changes its status
    and writes the timeline row and the notification, only if it is still pending (the
    notification's id; None: not pending, or unknown). Two round trips where a transaction
    takes four (BEGIN, UPDATE, INSERT, COMMIT).

    The read takes no lock: the columns the notification carries never change after creation,
    and the status it sees only spares the write when the payment is already final (a final
    status never changes). The statement's conditional UPDATE decides, under its row lock."""
    payment = connection.execute(_PAYMENT, {"payment_id": payment_id}).one_or_none()
    if payment is None or payment.status != PaymentStatus.PENDING:
        return None
    now = utcnow()
    finished = SimpleNamespace(**{**payment._mapping, "status": target})
    event, notification = _report_rows(finished, report, now)
    return connection.execute(
        _FINISH_WITH_EVENTS,
        {
            "report_payment_id": payment_id,
            "target": target,
            "now": now,
            **timeline_sql.slot_values("report", event),
            **timeline_sql.slot_values("notice", notification),
        },
    ).scalar_one_or_none()


def _finish_step_by_step(
    connection: Connection, payment_id: int, report: ProviderReport, target: PaymentStatus
) -> int | None:
    """The same as separate statements in the connection's transaction (SQLite)."""
    now = utcnow()
    payment = connection.execute(
        _FINISH_PENDING, {"payment_id": payment_id, "target": target, "now": now}
    ).one_or_none()
    if payment is None:
        return None
    return outbox.insert_log_rows(connection, list(_report_rows(payment, report, now)))


def _hand_to_sweep(log_id: int) -> None:
    try:
        outbox.due_now(log_id)
    except SQLAlchemyError:  # the row is committed: the sweep still finds it, a little later
        log.warning("could not hand notification %s to the sweep", log_id, exc_info=True)


def _report_rows(
    payment: Row | SimpleNamespace, report: ProviderReport, at: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The timeline event and the merchant notification of `payment`'s (new, final) status,
    written in the status change's transaction or statement."""
    current, target = PaymentStatus.PENDING, PaymentStatus(payment.status)
    request_id = current_request_id()
    event = TimelineEvent(
        EventType.PROVIDER_REPORT_RECEIVED,
        f"provider reported {report}: {current} -> {target}",
        {"report": str(report), "from": str(current), "to": str(target)},
    )
    return (
        event_row(payment.id, event, request_id, at),
        outbox.notification_row(payment, at, request_id),
    )


def _not_pending(payment_id: int, target: PaymentStatus, report: ProviderReport) -> ReportOutcome:
    """The payment is unknown (404) or already final: the same report again changes nothing,
    a contradicting one is a 409. A final status never changes, so no lock is needed."""
    status = db.session.scalar(select(Payment.status).where(Payment.id == payment_id))
    db.session.rollback()
    if status is None:
        raise PaymentNotFound()
    current = PaymentStatus(status)
    if classify_transition(current, target) is Transition.CONFLICT:
        raise InvalidTransition(
            f"The payment is already {current}; the provider now reports {report}."
        )
    return ReportOutcome(payment_id, current, applied=False)


_PAYMENTS = Payment.__table__
_LOGS = PaymentLog.__table__
_NOTIFICATION_COLUMNS = (
    _PAYMENTS.c.id,
    _PAYMENTS.c.order_id,
    _PAYMENTS.c.merchant_id,
    _PAYMENTS.c.status,
    _PAYMENTS.c.amount,
    _PAYMENTS.c.price,
    _PAYMENTS.c.currency,
)
# Built once. The payment's status and what the notification's payload needs.
_PAYMENT = prepared(
    select(*_NOTIFICATION_COLUMNS).where(_PAYMENTS.c.id == bindparam("payment_id")), "report_read"
)


def _finish_pending(id_param: str):
    """The status change to `target`, only while the payment is pending (its row lock orders
    two reports of one payment); by primary key (pending_with_id says why)."""
    return (
        update(_PAYMENTS)
        .where(pending_with_id(id_param))
        .values(status=bindparam("target"), updated_at=bindparam("now"))
    )


def _finish_with_events():
    # No parameter named like a column of payments or payment_logs (timeline_sql says why).
    finished = _finish_pending("report_payment_id").returning(_PAYMENTS.c.id).cte("finished")
    events = (
        timeline_sql.rows_for(finished, ("report", "notice"))
        .returning(_LOGS.c.id, _LOGS.c.event_type)
        .cte("events")
    )
    return select(events.c.id).where(events.c.event_type == outbox.NOTIFICATION)


_FINISH_WITH_EVENTS = prepared(_finish_with_events(), "report_write")
# SQLite's first step; RETURNING hands back what the notification's payload needs.
_FINISH_PENDING = _finish_pending("payment_id").returning(*_NOTIFICATION_COLUMNS)
