"""The embedded default (no RABBITMQ_URL): a dramatiq worker and the sweep scheduler inside the
API process, on the in-process broker. Development only; production runs `dramatiq tasks` and
`python -m tasks.scheduler` processes."""

from __future__ import annotations

import logging

import dramatiq
from flask import Flask

log = logging.getLogger(__name__)


def start(app: Flask) -> dramatiq.Worker:
    from tasks.scheduler import start_in_thread
    from tasks.worker import bind_app

    bind_app(app)
    worker = dramatiq.Worker(dramatiq.get_broker(), worker_threads=4)
    worker.start()
    start_in_thread(app.extensions["payments_settings"])
    log.info("embedded dramatiq worker and scheduler started (in-process broker, development only)")
    return worker
