"""payments/fast_json.py and the app's JSON provider: orjson's speed without its refusals, and
the documents Flask would have written."""

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from payments.api.json_provider import FastJSONProvider
from payments.fast_json import dumps, dumps_text
from payments.messaging import MessageEncoder


def test_dumps_is_compact_utf8_json():
    document = {"payment_id": 7, "amount": "10.50", "name": "Zoë ☃", "ok": True, "none": None}
    written = dumps(document)
    assert written == json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    assert dumps_text(document) == written.decode()


def test_an_integer_beyond_64_bits_is_written_not_refused():
    huge = 2**70
    assert json.loads(dumps({"order_id": huge})) == {"order_id": huge}
    assert json.loads(dumps({1: "integer key"})) == {"1": "integer key"}


def test_sort_keys_and_default_apply_on_both_encoders():
    def default(value):
        return f"<{type(value).__name__}>"

    assert dumps({"b": 1, "a": object()}, default=default, sort_keys=True) == (
        b'{"a":"<object>","b":1}'
    )
    # The fallback (an integer orjson refuses) keeps both.
    assert dumps({"b": 2**70, "a": object()}, default=default, sort_keys=True) == (
        b'{"a":"<object>","b":%d}' % 2**70
    )


def test_dates_go_to_default_as_with_json():
    stamp = datetime(2026, 1, 15, 9, 31, 2, tzinfo=UTC)
    assert (
        dumps({"at": stamp}, default=str)
        == json.dumps({"at": stamp}, default=str, separators=(",", ":")).encode()
    )


@dataclass
class _Point:
    x: int


@pytest.fixture
def bare_app():
    app = Flask(__name__)
    app.json = FastJSONProvider(app)
    return app


def test_the_provider_writes_what_flasks_own_would(bare_app):
    app = bare_app
    document = {
        "z": 1,
        "a": [Decimal("10.50"), uuid.UUID(int=5), date(2026, 1, 15), _Point(3)],
        "when": datetime(2026, 1, 15, 9, 31, 2, tzinfo=UTC),
        "big": 2**70,
    }
    flasks_own = DefaultJSONProvider(app)
    with app.app_context():
        assert json.loads(app.json.dumps(document)) == json.loads(flasks_own.dumps(document))
        assert list(json.loads(app.json.dumps(document))) == ["a", "big", "when", "z"]
        answer = app.json.response(document)
        assert answer.mimetype == "application/json"
        assert answer.get_data().endswith(b"}\n")
        assert json.loads(answer.get_data()) == json.loads(flasks_own.dumps(document))


def test_the_provider_keeps_flasks_options_and_debug_pretty_printing(bare_app):
    app = bare_app
    with app.app_context():
        assert app.json.dumps({"a": 1}, indent=2) == '{\n  "a": 1\n}'
        app.debug = True
        assert app.json.response({"a": 1}).get_data() == b'{\n  "a": 1\n}\n'


def test_broker_messages_round_trip_through_dramatiqs_reader():
    data = {"queue_name": "q", "args": [7, "lease"], "options": {"request_id": "r-1"}}
    encoder = MessageEncoder()
    assert encoder.decode(encoder.encode(data)) == data
