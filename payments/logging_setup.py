"""Structured logs: one JSON object per line, every line with the current request id, one line
per HTTP request, and nothing that looks like a credential.

Gunicorn's own access log stays off: the app writes the request line itself because only it
knows the route and the authenticated merchant. Gunicorn's error log goes through the same JSON
formatter and redaction (GunicornJsonLogger, named in gunicorn.conf.py).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import TextIO

from flask import Flask, Response, g, request, request_finished, request_started
from gunicorn.glogging import Logger as GunicornLogger
from pythonjsonlogger.orjson import OrjsonFormatter

from payments.request_id import current_request_id

ACCESS_LOGGER = "payments.access"
REDACTED = "[REDACTED]"
_SECRET_HEADERS = frozenset({"x-api-key", "x-internal-signature"})

# What a credential looks like wherever it ends up in a message: API keys (pk_...), Standard
# Webhooks secrets (whsec_...), the value after a credential header's name, the password of a
# URL (postgresql://user:password@host).
_SECRET_PATTERNS = (
    (re.compile(r"\bpk_[A-Za-z0-9_\-]{8,}"), "pk_" + REDACTED),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_\-]{8,}"), "whsec_" + REDACTED),
    (
        re.compile(
            r"(?i)\b(x-api-key|x-internal-signature)(['\"]?\s*[:=]\s*(?:b?['\"])?)([^\s'\",;}\]]+)"
        ),
        r"\1\2" + REDACTED,
    ),
    (re.compile(r"(://[^:/\s@]+:)([^@\s/]+)(@)"), r"\1" + REDACTED + r"\3"),
)


# Every pattern above needs one of these substrings: a line without any (most lines) is left
# alone after one cheap search instead of four substitutions.
_MAY_HOLD_SECRET = re.compile(r"pk_|whsec_|x-api-key|x-internal-signature|://", re.IGNORECASE)


def redact(text: str) -> str:
    if _MAY_HOLD_SECRET.search(text) is None:
        return text
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class RedactingJsonFormatter(OrjsonFormatter):
    """The service's JSON line, with every string in it redacted: the message, the traceback,
    extra fields (and the values of credential headers passed as a dict).

    Redacting the rendered line, not the LogRecord, leaves the record untouched for any other
    handler (pytest's capture, a library's own).

    Written by orjson (payments/fast_json.py says why); what orjson refuses (an integer beyond
    64 bits in an extra field) is written by `json`, so the line is never lost.
    """

    def process_log_record(self, log_data):
        return _redact_value(super().process_log_record(log_data))

    def jsonify_log_record(self, log_data) -> str:
        try:
            return super().jsonify_log_record(log_data)
        except TypeError:
            return json.dumps(log_data, default=self.json_default, ensure_ascii=False)


def _redact_value(value, key: str = ""):
    if isinstance(value, str):
        return REDACTED if key.lower() in _SECRET_HEADERS else redact(value)
    if isinstance(value, dict):
        return {name: _redact_value(item, str(name)) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


def json_formatter() -> logging.Formatter:
    return RedactingJsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(process)d",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
    )


def make_handler(stream: TextIO) -> logging.Handler:
    """A handler writing redacted JSON lines with the request id (the service's one format)."""
    return _adopt(logging.StreamHandler(stream))


def _adopt(handler: logging.Handler) -> logging.Handler:
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(json_formatter())
    handler._payments = True  # type: ignore[attr-defined]
    return handler


def configure_logging(level: str = "INFO") -> None:
    """Idempotent: calling it again (another app in the same process) changes only the level."""
    root = logging.getLogger()
    root.setLevel(level)
    if any(getattr(handler, "_payments", False) for handler in root.handlers):
        return
    if "dramatiq.cli" in sys.modules and root.handlers:
        # A `dramatiq` worker process: the CLI already sends the root logger through a pipe to
        # its main process. Give that handler our format instead of writing every line twice.
        for handler in root.handlers:
            _adopt(handler)
    else:
        root.addHandler(make_handler(sys.stderr))
    # Quiet libraries that log every connection at INFO.
    for noisy in ("pika", "urllib3.connectionpool", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# --- one line per request -----------------------------------------------------------------

access_log = logging.getLogger(ACCESS_LOGGER)


def init_request_log(app: Flask) -> None:
    # Signals rather than before/after_request: they fire around every request, whatever a
    # before_request hook answers, and in a fixed place relative to them.
    request_started.connect(_mark_start, app)
    request_finished.connect(_log_request, app)


def _mark_start(_sender: Flask, **_extra) -> None:
    g.access_log_started = time.perf_counter()


def _log_request(_sender: Flask, response: Response, **_extra) -> None:
    started = g.get("access_log_started")
    duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
    rule = request.url_rule.rule if request.url_rule is not None else None
    level = logging.WARNING if response.status_code >= 500 else logging.INFO
    access_log.log(
        level,
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "event": "request",
            "method": request.method,
            "route": rule,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": duration_ms,
            "merchant_id": g.get("merchant_id"),
        },
    )


# --- gunicorn ----------------------------------------------------------------------------


class GunicornJsonLogger(GunicornLogger):
    """Gunicorn's error log ("Booting worker", "Shutting down") in the service's JSON format."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            _adopt(handler)
