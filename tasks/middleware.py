"""Runs every actor inside the Flask app context, with the request id of the message."""

from __future__ import annotations

import threading

from dramatiq.middleware import Middleware
from flask import Flask

from payments.extensions import db
from payments.request_id import new_request_id, reset_request_id, set_request_id


class AppContextMiddleware(Middleware):
    def __init__(self, app: Flask) -> None:
        self.app = app
        self._state = threading.local()

    def before_process_message(self, broker, message) -> None:
        context = self.app.app_context()
        context.push()
        token = set_request_id(message.options.get("request_id") or new_request_id())
        self._state.stack = (context, token)

    def after_process_message(self, broker, message, *, result=None, exception=None) -> None:
        self._leave()

    def after_skip_message(self, broker, message) -> None:
        self._leave()

    def _leave(self) -> None:
        context, token = getattr(self._state, "stack", (None, None))
        if context is None:
            return
        self._state.stack = (None, None)
        db.session.remove()
        reset_request_id(token)
        context.pop()
