"""Helpers of the /api/v1/payments tests: request bodies, headers, SPEC's error shape, and
reading what a request left in the database."""

from __future__ import annotations

from sqlalchemy import func, select

from payments.extensions import db
from payments.models import Payment, PaymentLog, UserSubscription

URL = "/api/v1/payments"


def auth(merchant, **extra) -> dict[str, str]:
    return {"X-API-Key": merchant.api_key, **extra}


def create_body(order_id: int = 1001, **fields) -> dict:
    """Valid against the seeded data: plan 1 is Basic, alias stripe."""
    return {
        "order_id": order_id,
        "amount": "10.50",
        "price": "12.00",
        "alias": "stripe",
        "subscription_id": 1,
        **fields,
    }


def assert_error(response, status: int, code: str) -> dict:
    """SPEC's error shape: {"code", "status", "message", "error"}."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.is_json, response.get_data(as_text=True)[:200]
    answer = response.get_json()
    assert answer["code"] == status
    assert answer["error"] == code
    assert answer["status"]
    assert answer["message"]
    return answer


def used_tokens(app, merchant_id: int) -> int:
    with app.app_context():
        return db.session.scalar(
            select(UserSubscription.used_tokens).where(UserSubscription.merchant_id == merchant_id)
        )


def payment_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Payment))


def events_of(app, payment_id: int) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(PaymentLog.event_type)
                .where(PaymentLog.payment_id == payment_id)
                .order_by(PaymentLog.id)
            )
        )


def payment_status(app, payment_id: int) -> str:
    with app.app_context():
        return db.session.get(Payment, payment_id).status
