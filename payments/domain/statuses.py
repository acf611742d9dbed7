"""The names the old service used (kept so operators' SQL and merchants keep working), plus the
ones it lacked (PAYMENT_EXPIRED, provider failure, expiry events)."""

from enum import StrEnum


class PaymentStatus(StrEnum):
    PENDING = "PAYMENT_PENDING"
    FINISHED = "PAYMENT_FINISHED"
    FAILED = "PAYMENT_FAILED"
    EXPIRED = "PAYMENT_EXPIRED"

    @property
    def is_final(self) -> bool:
        return self is not PaymentStatus.PENDING


# An order may have at most one payment in these states; the others let it be paid again.
OPEN_ORDER_STATUSES = (PaymentStatus.PENDING, PaymentStatus.FINISHED)


class EventType(StrEnum):
    PAYMENT_CREATED = "EVENT_PAYMENT_CREATED"
    PROVIDER_REQUEST_SENT = "EVENT_PROVIDER_REQUEST_SENT"
    PROVIDER_PAYMENT_ACCEPTED = "EVENT_PROVIDER_PAYMENT_ACCEPTED"
    PROVIDER_REQUEST_FAILED = "EVENT_PROVIDER_REQUEST_FAILED"
    PROVIDER_REPORT_RECEIVED = "EVENT_PROVIDER_REPORT_RECEIVED"
    PAYMENT_EXPIRED = "EVENT_PAYMENT_EXPIRED"
    PAYMENT_ABANDONED = "EVENT_PAYMENT_ABANDONED"
    TOKEN_REFUNDED = "EVENT_TOKEN_REFUNDED"  # noqa: S105 (an event name, not a secret)
    # The outbox row: one per final status, delivered to the merchant by the notify actor.
    MERCHANT_NOTIFICATION = "EVENT_MERCHANT_NOTIFICATION_SENT"


class LogStatus(StrEnum):
    PENDING = "LOG_PENDING"
    PROCESSING = "LOG_PROCESSING"
    RETRYING = "LOG_RETRYING"
    SUCCESS = "LOG_SUCCESS"
    FAILED = "LOG_FAILED"


# Outbox rows in these states still owe the merchant a delivery.
ACTIVE_LOG_STATUSES = (LogStatus.PENDING, LogStatus.RETRYING, LogStatus.PROCESSING)


class ProviderReport(StrEnum):
    """What the provider's webhook may say about a payment."""

    FINISHED = "finished"
    FAILED = "failed"
    EXPIRED = "expired"


class RecordStatus(StrEnum):
    """Status of merchants, API keys and subscriptions."""

    ACTIVE = "active"
    INACTIVE = "inactive"
