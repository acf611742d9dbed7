"""X-Request-Id: taken from the client (when sane) or made, returned on every response, and
available to every log line and outbound call through a context variable. Actors set it from
the message so a merchant webhook carries the id of the request that caused it."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from flask import Flask, Response, request

HEADER = "X-Request-Id"
_SANE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return _current.get()


def set_request_id(value: str | None):
    """Bind an id to the current context; returns a token for `reset_request_id`."""
    return _current.set(value)


def reset_request_id(token) -> None:
    _current.reset(token)


def accept_or_make(candidate: str | None) -> str:
    return candidate if candidate and _SANE.match(candidate) else new_request_id()


def init_app(app: Flask) -> None:
    @app.before_request
    def _bind_request_id() -> None:
        set_request_id(accept_or_make(request.headers.get(HEADER)))

    @app.after_request
    def _return_request_id(response: Response) -> Response:
        response.headers[HEADER] = current_request_id() or new_request_id()
        return response

    @app.teardown_request
    def _forget_request_id(_error: BaseException | None = None) -> None:
        # Server threads are reused: a log line between requests must not carry the last id.
        set_request_id(None)
