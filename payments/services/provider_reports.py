"""The provider's signed report of a payment's result: verify, then apply it under a row lock.

The status change, the provider event and the merchant notification (outbox row) commit in one
transaction, so a notification can never be lost between two writes; the row lock makes two
concurrent reports of one payment queue up, and the second finds the work already done.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from sqlalchemy import select

from payments import messaging
from payments.domain.statuses import EventType, PaymentStatus, ProviderReport
from payments.domain.transitions import Transition, classify_transition, status_for_report
from payments.errors import InvalidSignature, InvalidTransition, PaymentNotFound, ValidationFailed
from payments.extensions import db
from payments.models import Payment, utcnow
from payments.services import outbox
from payments.services.timeline import record_event

MAX_ID = 2**63 - 1


class ReportBodySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    payment_id = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID)
    )
    status = fields.String(
        required=True, validate=validate.OneOf([report.value for report in ProviderReport])
    )


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
        report = ReportBodySchema().load(document)
    except ValidationError as error:
        raise ValidationFailed(
            "The request is not valid; see `errors`.", extra={"errors": error.messages}
        ) from None
    return report["payment_id"], ProviderReport(report["status"])


def apply_provider_report(payment_id: int, report: ProviderReport) -> ReportOutcome:
    """Move a pending payment to the reported final status, then wake the notify actor."""
    payment = db.session.scalars(
        select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if payment is None:
        db.session.rollback()
        raise PaymentNotFound()
    current, target = PaymentStatus(payment.status), status_for_report(report)
    transition = classify_transition(current, target)
    if transition is not Transition.APPLY:
        db.session.rollback()
        if transition is Transition.CONFLICT:
            raise InvalidTransition(
                f"The payment is already {current}; the provider now reports {report}."
            )
        return ReportOutcome(payment_id, current, applied=False)
    now = utcnow()
    payment.status = target
    record_event(
        payment.id,
        EventType.PROVIDER_REPORT_RECEIVED,
        f"provider reported {report}: {current} -> {target}",
        {"report": str(report), "from": str(current), "to": str(target)},
    )
    notification = outbox.add_notification(payment, now)
    db.session.flush()
    log_id = notification.id
    db.session.commit()
    # Fast path; if the broker refuses, the row is committed and the sweep delivers it.
    messaging.send_notify(log_id)
    return ReportOutcome(payment_id, target, applied=True)
