"""Structured logs: one JSON object per line, every line with the current request id."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from payments.request_id import current_request_id


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


def configure_logging(level: str = "INFO") -> None:
    """Idempotent: calling it again (another app in the same process) changes only the level."""
    root = logging.getLogger()
    root.setLevel(level)
    if any(getattr(handler, "_payments", False) for handler in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler._payments = True  # type: ignore[attr-defined]
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    root.addHandler(handler)
    # Quiet libraries that log every connection at INFO.
    for noisy in ("pika", "urllib3.connectionpool", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
