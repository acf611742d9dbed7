"""`flask --app wsgi merchants ...` on the real database, through the app's CLI runner. Keys are
checked by authenticating with them (Redis cache included), not by reading the table."""

import json

import pytest
from sqlalchemy import select

from payments.errors import Unauthorized
from payments.extensions import db, redis_store
from payments.models import Merchant, MerchantApiKey
from payments.services.auth import authenticate


def _run(app, *args, expect_exit=0):
    result = app.test_cli_runner().invoke(args=["merchants", *args])
    assert result.exit_code == expect_exit, result.output
    return result.output


def _authenticates(app, settings, api_key):
    with app.app_context():
        try:
            return authenticate(settings, api_key, None)
        except Unauthorized:
            return None
        finally:
            db.session.remove()


def test_rotate_key_revokes_the_old_key_at_once_even_when_cached(app, settings, demo):
    merchant = demo.merchants[0]
    old_key = merchant.api_key
    # The old key is now in the Redis auth cache (60 s): rotation must drop it from there too.
    assert _authenticates(app, settings, old_key) == merchant.id
    with app.app_context():
        assert redis_store.client.keys(f"{settings.redis_key_prefix}auth:*")

    rotation = json.loads(_run(app, "rotate-key", str(merchant.id), "--json"))

    assert rotation["api_key"].startswith("pk_")
    assert rotation["api_key"] != old_key
    assert _authenticates(app, settings, old_key) is None
    assert _authenticates(app, settings, rotation["api_key"]) == merchant.id
    with app.app_context():
        keys = db.session.scalars(
            select(MerchantApiKey).where(MerchantApiKey.merchant_id == merchant.id)
        ).all()
        assert {(k.id, k.status) for k in keys} == {
            (rotation["revoked_key_ids"][0], "inactive"),
            (rotation["key_id"], "active"),
        }
        assert all(k.revoked_at is not None for k in keys if k.status == "inactive")
        # Only the hash is stored.
        assert rotation["api_key"] not in {k.key_hash for k in keys}


def test_rotate_key_text_output_shows_the_key_once(app, settings, demo):
    output = _run(app, "rotate-key", str(demo.merchants[1].id))
    new_key = next(word for word in output.split() if word.startswith("pk_"))
    assert _authenticates(app, settings, new_key) == demo.merchants[1].id
    assert "pk_" not in _run(app, "list")
    assert "pk_" not in _run(app, "list", "--json")


def test_keep_old_lets_both_keys_work_until_revoke_key(app, settings, demo):
    merchant = demo.merchants[2]
    output = _run(app, "rotate-key", str(merchant.id), "--keep-old", "--json")
    rotation = json.loads(output)
    old_key_id = rotation["kept_key_ids"][0]
    assert rotation["revoked_key_ids"] == []
    assert _authenticates(app, settings, merchant.api_key) == merchant.id
    assert _authenticates(app, settings, rotation["api_key"]) == merchant.id

    assert "revoked" in _run(app, "revoke-key", str(merchant.id), str(old_key_id))

    assert _authenticates(app, settings, merchant.api_key) is None
    assert _authenticates(app, settings, rotation["api_key"]) == merchant.id
    listing = json.loads(_run(app, "list", "--json"))
    keys = next(m["keys"] for m in listing["merchants"] if m["id"] == merchant.id)
    assert {k["id"]: k["status"] for k in keys} == {
        old_key_id: "inactive",
        rotation["key_id"]: "active",
    }


def test_rotate_secret_prints_a_new_standard_webhooks_secret(app, demo):
    merchant = demo.merchants[0]
    rotation = json.loads(_run(app, "rotate-secret", str(merchant.id), "--json"))
    secret = rotation["webhook_secret"]
    assert secret.startswith("whsec_")
    assert secret != merchant.webhook_secret
    from standardwebhooks.webhooks import Webhook

    Webhook(secret)  # a secret the merchants' verification library accepts
    with app.app_context():
        assert db.session.get(Merchant, merchant.id).webhook_secret == secret
    assert "whsec_" in _run(app, "rotate-secret", str(merchant.id))


def test_rotate_secret_keep_old_says_until_when_the_old_secret_signs(app, demo):
    merchant = demo.merchants[1]
    rotation = json.loads(_run(app, "rotate-secret", str(merchant.id), "--keep-old", "--json"))
    with app.app_context():
        stored = db.session.get(Merchant, merchant.id)
        assert stored.webhook_secret == rotation["webhook_secret"]
        assert stored.previous_webhook_secret == merchant.webhook_secret
        assert (
            stored.previous_webhook_secret_until.isoformat() == rotation["old_secret_signs_until"]
        )
    output = _run(app, "rotate-secret", str(merchant.id), "--keep-old")
    assert "also carry a signature with the old secret until" in output


def test_list_shows_every_merchant_and_its_keys(app, demo):
    output = _run(app, "list")
    for merchant in demo.merchants:
        assert f"merchant {merchant.id} {merchant.name}" in output
    assert output.count(" active, created ") == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rotate-key", "999999"], "Merchant 999999 not found."),
        (["rotate-secret", "999999"], "Merchant 999999 not found."),
        (["revoke-key", "{merchant}", "999999"], "has no API key 999999"),
        (["rotate-key", "abc"], "is not a valid integer"),
    ],
)
def test_unknown_merchant_or_key_is_a_one_line_error(app, demo, args, message):
    args = [arg.format(merchant=demo.merchants[0].id) for arg in args]
    output = _run(app, *args, expect_exit=2 if "abc" in args else 1)
    assert message in output
    assert "Traceback" not in output
