"""SQLAlchemy 2 typed models. Importing this package registers every table on the metadata."""

from payments.models.base import Base, utcnow
from payments.models.idempotency import IdempotencyKey
from payments.models.merchant import Merchant, MerchantApiKey
from payments.models.payment import Payment
from payments.models.payment_log import PaymentLog
from payments.models.provider import Provider
from payments.models.subscription import Subscription, UserSubscription

__all__ = [
    "Base",
    "IdempotencyKey",
    "Merchant",
    "MerchantApiKey",
    "Payment",
    "PaymentLog",
    "Provider",
    "Subscription",
    "UserSubscription",
    "utcnow",
]
