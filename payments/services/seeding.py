"""Idempotent demo data: creates what is missing, leaves what exists alone."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from sqlalchemy import select

from payments.domain.credentials import generate_api_key, generate_webhook_secret, hash_api_key
from payments.domain.statuses import RecordStatus
from payments.extensions import db
from payments.models import Merchant, MerchantApiKey, Provider, Subscription, UserSubscription


@dataclass
class SeededMerchant:
    id: int
    name: str
    # None when the merchant already had a key: only its hash is stored, so it cannot be shown.
    api_key: str | None
    webhook_secret: str
    subscription_id: int


@dataclass
class SeedResult:
    merchants: list[SeededMerchant] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)

    def as_document(self) -> dict:
        return {
            "merchants": [asdict(merchant) for merchant in self.merchants],
            "providers": [{"alias": alias} for alias in self.providers],
        }


def seed_demo_data(plans: list[dict], merchants: list[dict], providers: list[dict]) -> SeedResult:
    session = db.session
    plans_by_name = {plan["name"]: _get_or_create_plan(plan) for plan in plans}
    result = SeedResult()
    for spec in merchants:
        plan = plans_by_name[spec["plan"]]
        result.merchants.append(_get_or_create_merchant(spec, plan))
    for spec in providers:
        if session.scalar(select(Provider).where(Provider.alias == spec["alias"])) is None:
            session.add(Provider(name=spec["name"], alias=spec["alias"], url=None))
        result.providers.append(spec["alias"])
    session.commit()
    return result


def _get_or_create_plan(spec: dict) -> Subscription:
    plan = db.session.scalar(select(Subscription).where(Subscription.name == spec["name"]))
    if plan is None:
        plan = Subscription(**spec)
        db.session.add(plan)
        db.session.flush()
    return plan


def _get_or_create_merchant(spec: dict, plan: Subscription) -> SeededMerchant:
    session = db.session
    merchant = session.scalar(select(Merchant).where(Merchant.name == spec["name"]))
    if merchant is None:
        merchant = Merchant(
            name=spec["name"], email=spec["email"], webhook_secret=generate_webhook_secret()
        )
        session.add(merchant)
        session.flush()
    api_key = None
    has_key = session.scalar(
        select(MerchantApiKey.id).where(
            MerchantApiKey.merchant_id == merchant.id,
            MerchantApiKey.status == RecordStatus.ACTIVE,
        )
    )
    if has_key is None:
        api_key = generate_api_key()
        session.add(MerchantApiKey(merchant_id=merchant.id, key_hash=hash_api_key(api_key)))
    subscription = session.scalar(
        select(UserSubscription).where(
            UserSubscription.merchant_id == merchant.id,
            UserSubscription.subscription_id == plan.id,
        )
    )
    if subscription is None:
        session.add(UserSubscription(merchant_id=merchant.id, subscription_id=plan.id))
    return SeededMerchant(
        id=merchant.id,
        name=merchant.name,
        api_key=api_key,
        webhook_secret=merchant.webhook_secret,
        subscription_id=plan.id,
    )
