"""The embedded default (no RABBITMQ_URL): a dramatiq worker inside the API process, on the
in-process broker. Development only; production runs `dramatiq tasks` processes."""

from __future__ import annotations

import logging

import dramatiq
from flask import Flask

log = logging.getLogger(__name__)


def start(app: Flask) -> dramatiq.Worker:
    from tasks.worker import bind_app

    bind_app(app)
    worker = dramatiq.Worker(dramatiq.get_broker(), worker_threads=4)
    worker.start()
    log.info("embedded dramatiq worker started (in-process broker, development only)")
    return worker
