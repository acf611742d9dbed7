"""A real dramatiq worker inside the test process, on the test app's broker (RabbitMQ with this
run's queue names)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import dramatiq
from flask import Flask


@contextlib.contextmanager
def running_worker(app: Flask, threads: int = 2) -> Iterator[dramatiq.Worker]:
    from tasks.worker import bind_app

    bind_app(app)
    broker = dramatiq.get_broker()
    # Messages left by earlier tests name rows of emptied tables (ids restart): drop them.
    broker.flush_all()
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(timeout=10_000)
