"""Gunicorn settings for `gunicorn wsgi:app`; GUNICORN_* environment variables override them."""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 25))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 5))


def post_worker_init(worker):
    """In the embedded default (no RABBITMQ_URL) each worker runs its own in-process
    dramatiq worker and scheduler; production runs them as separate processes."""
    from payments.messaging import broker_settings

    if not broker_settings().rabbitmq_url:
        from tasks import embedded

        embedded.start(worker.wsgi)
