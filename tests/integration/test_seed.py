"""`flask --app wsgi seed [--json]` as SPEC section 6 describes it."""

import hashlib
import json
from pathlib import Path

from sqlalchemy import select

from payments.extensions import db
from payments.models import Merchant, MerchantApiKey, Provider, Subscription, UserSubscription


def _seed(app, *args):
    result = app.test_cli_runner().invoke(args=["seed", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_seed_json_document_and_stored_hashes(app):
    document = json.loads(_seed(app, "--json"))
    assert [m["name"] for m in document["merchants"]] == ["Demo", "Test", "Sample"]
    assert [p["alias"] for p in document["providers"]] == ["stripe", "paypal", "adyen"]
    with app.app_context():
        basic = db.session.scalar(select(Subscription).where(Subscription.name == "Basic"))
        plans = {s.name: (str(s.price), s.tokens) for s in db.session.scalars(select(Subscription))}
        hashes = set(db.session.scalars(select(MerchantApiKey.key_hash)))
        raw_keys = {m["api_key"] for m in document["merchants"]}
        assert not raw_keys & hashes  # only hashes are stored
        assert {hashlib.sha256(k.encode()).hexdigest() for k in raw_keys} == hashes
        for merchant in document["merchants"]:
            assert merchant["subscription_id"] == basic.id
            assert merchant["webhook_secret"].startswith("whsec_")
            assert len(merchant["api_key"]) >= 43
            subscription = db.session.scalar(
                select(UserSubscription).where(UserSubscription.merchant_id == merchant["id"])
            )
            assert subscription.status == "active"
            assert subscription.used_tokens == 0
        assert all(m.callback_url is None for m in db.session.scalars(select(Merchant)))
        assert all(p.url is None for p in db.session.scalars(select(Provider)))
    assert plans == {
        "Basic": ("9.99", 1_000_000),
        "Premium": ("19.99", 10_000_000),
        "Enterprise": ("49.99", 100_000_000),
    }


def test_seed_is_idempotent_and_never_shows_a_key_twice(app):
    first = json.loads(_seed(app, "--json"))
    second = json.loads(_seed(app, "--json"))
    assert [m["id"] for m in first["merchants"]] == [m["id"] for m in second["merchants"]]
    assert all(m["api_key"] is None for m in second["merchants"])
    with app.app_context():
        assert db.session.query(Merchant).count() == 3
        assert db.session.query(MerchantApiKey).count() == 3
        assert db.session.query(Provider).count() == 3
    credentials = json.loads((Path(app.instance_path) / "demo-credentials.json").read_text())
    # The credentials file keeps the keys it was given the first time.
    assert [m["api_key"] for m in credentials["merchants"]] == [
        m["api_key"] for m in first["merchants"]
    ]


def test_seed_text_output_prints_keys_once(app):
    text_output = _seed(app)
    assert "pk_" in text_output
    assert "Swagger" not in text_output
    assert "pk_" not in _seed(app)
