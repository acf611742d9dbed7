"""The dramatiq broker of this process, and the messages services send.

Services name the actors they wake (by actor name and queue) instead of importing `tasks`, so
dependencies keep pointing one way: tasks -> services, never back. Sending is best effort: the
outbox row is already committed, and the sweep finds whatever a failed send left behind.
"""

from __future__ import annotations

import logging

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.encoder import JSONEncoder, MessageData

from payments.config import Settings
from payments.fast_json import dumps
from payments.request_id import current_request_id

log = logging.getLogger(__name__)

NOTIFY_ACTOR = "notify_merchant"
NOTIFY_BATCH_ACTOR = "notify_merchants"
SWEEP_ACTOR = "sweep_outbox"

_settings: Settings | None = None


class MessageEncoder(JSONEncoder):
    """dramatiq's JSON messages, written by payments/fast_json.py (every provider report sends
    one). Reading stays dramatiq's, so either side can run the other's version."""

    def encode(self, data: MessageData) -> bytes:
        return dumps(data)


def configure_broker(settings: Settings) -> dramatiq.Broker:
    """Set the process-wide broker once; later apps in the same process reuse it."""
    global _settings
    if _settings is not None:
        return dramatiq.get_broker()
    if settings.rabbitmq_url:
        # No publisher confirms: a confirm waits for RabbitMQ to write the message to disk, the
        # largest cost of the provider webhook, and a hung broker would hang the request. Every
        # message is a wake-up call for a committed outbox row, so one lost in a broker crash
        # costs only time: the sweep claims a row that is still pending (or whose lease ran out)
        # and sends it again. A refused connection still raises, and the send reports it.
        broker: dramatiq.Broker = RabbitmqBroker(url=settings.rabbitmq_url, confirm_delivery=False)
    else:
        # Development only: messages stay in this process, served by tasks.embedded's worker.
        broker = StubBroker()
        broker.emit_after("process_boot")
    dramatiq.set_broker(broker)
    dramatiq.set_encoder(MessageEncoder())
    _settings = settings
    return broker


def is_configured() -> bool:
    return _settings is not None


def broker_settings() -> Settings:
    """The settings the broker was configured with (actors take their queue names from it)."""
    if _settings is None:
        raise RuntimeError("configure_broker() has not run in this process")
    return _settings


def send_notify(log_id: int, lease_token: str | None = None) -> bool:
    """Wake the notify actor for one outbox row. False when the broker refused."""
    return _send(broker_settings().queue_name, NOTIFY_ACTOR, log_id, lease_token)


def send_notify_batch(log_ids: list[int], lease_token: str) -> bool:
    """Wake the batch notify actor for rows a sweep leased together under one token."""
    return _send(broker_settings().queue_name, NOTIFY_BATCH_ACTOR, list(log_ids), lease_token)


def notify_backlog() -> int | None:
    """Messages waiting in the notify queue (not yet taken by a worker); None when unknown
    (in-process broker, broker unreachable). One passive declare: a round trip, no change."""
    broker = dramatiq.get_broker()
    if not isinstance(broker, RabbitmqBroker):
        return None
    try:
        declared = broker.channel.queue_declare(broker_settings().queue_name, passive=True)
    except Exception:  # e.g. the broker went away: the caller treats the backlog as unknown
        log.warning("could not read the notify queue's length", exc_info=True)
        del broker.connection  # a failed declare closes the channel; start afresh next time
        return None
    return declared.method.message_count


def send_sweep() -> bool:
    return _send(broker_settings().sweep_queue_name, SWEEP_ACTOR)


def _send(queue_name: str, actor_name: str, *args) -> bool:
    message = dramatiq.Message(
        queue_name=queue_name,
        actor_name=actor_name,
        args=args,
        kwargs={},
        options={"request_id": current_request_id()},
    )
    try:
        dramatiq.get_broker().enqueue(message)
    except Exception:  # the broker may be down; the outbox sweep recovers the message
        log.warning("could not enqueue %s%r; the sweep will retry", actor_name, args, exc_info=True)
        return False
    return True
