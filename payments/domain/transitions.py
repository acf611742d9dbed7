"""Which payment status changes are allowed, and what each final status tells the merchant."""

from enum import Enum

from payments.domain.statuses import PaymentStatus, ProviderReport

_REPORT_TO_STATUS = {
    ProviderReport.FINISHED: PaymentStatus.FINISHED,
    ProviderReport.FAILED: PaymentStatus.FAILED,
    ProviderReport.EXPIRED: PaymentStatus.EXPIRED,
}

_NOTIFICATION_TYPES = {
    PaymentStatus.FINISHED: "payment.finished",
    PaymentStatus.FAILED: "payment.failed",
    PaymentStatus.EXPIRED: "payment.expired",
}


class Transition(Enum):
    APPLY = "apply"  # a pending payment moves to a final status
    ALREADY_DONE = "already_done"  # the same final status again: nothing to do
    CONFLICT = "conflict"  # contradicts a final status


def status_for_report(report: ProviderReport) -> PaymentStatus:
    return _REPORT_TO_STATUS[report]


def classify_transition(current: PaymentStatus, target: PaymentStatus) -> Transition:
    """Pending may go to any final status; a final status never changes."""
    if not target.is_final:
        raise ValueError(f"{target} is not a final status")
    if current is PaymentStatus.PENDING:
        return Transition.APPLY
    if current is target:
        return Transition.ALREADY_DONE
    return Transition.CONFLICT


def notification_type(status: PaymentStatus) -> str:
    """The `type` of the merchant webhook sent when a payment reaches `status`."""
    return _NOTIFICATION_TYPES[status]
