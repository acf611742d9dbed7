"""Binds the actors to an app: the app-context middleware first, then the actor declarations
(which need the configured broker and the queue names of the settings)."""

from __future__ import annotations

import dramatiq
from flask import Flask

from tasks.middleware import AppContextMiddleware

_bound: Flask | None = None


def bind_app(app: Flask) -> None:
    global _bound
    if _bound is not None:
        return
    dramatiq.get_broker().add_middleware(AppContextMiddleware(app))
    import tasks.actors  # noqa: F401  (declares the actors on the broker)

    _bound = app
