"""Readiness checks of the three dependencies, each answering "ok" or a short error."""

from __future__ import annotations

import logging

import dramatiq
import pika
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from sqlalchemy import text

from payments.extensions import db, redis_store
from payments.messaging import broker_settings

log = logging.getLogger(__name__)


def check_dependencies() -> dict:
    checks = {"database": _check(_database), "broker": _check(_broker), "redis": _check(_redis)}
    return {"ok": all(value == "ok" for value in checks.values()), "checks": checks}


def _check(probe) -> str:
    try:
        probe()
    except Exception as exc:  # any failure is the answer, not a crash
        # The probe is unauthenticated: the answer names the failure, the log has the details
        # (hosts, ports, driver messages).
        log.warning("health check %s failed", probe.__name__.lstrip("_"), exc_info=True)
        return f"error: {type(exc).__name__}"
    return "ok"


def _database() -> None:
    try:
        db.session.execute(text("SELECT 1"))
    finally:
        db.session.rollback()


def _broker() -> None:
    url = broker_settings().rabbitmq_url
    if isinstance(dramatiq.get_broker(), RabbitmqBroker) and url:
        # A fresh, short-lived connection: the broker's own may look alive after a cut.
        params = pika.URLParameters(url)
        params.socket_timeout = 2
        params.connection_attempts = 1
        pika.BlockingConnection(params).close()


def _redis() -> None:
    if redis_store.client is not None:
        redis_store.client.ping()
