"""`dramatiq tasks` as production runs it: dramatiq's Prometheus exporter on dramatiq_prom_port,
and SIGTERM finishing the message in progress while the ones not started go back to RabbitMQ.

The worker consumes only a probe queue of this run (-Q), served by tests/e2e/probe_actors.py."""

import os
import signal
import sys
import time
from pathlib import Path

import dramatiq
import pika
import pytest
import requests
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import RABBITMQ_URL
from tests.support import processes
from tests.support.rabbitmq import delete_queues

pytestmark = pytest.mark.e2e

DRAMATIQ = str(Path(sys.executable).parent / "dramatiq")
PROBE_ACTOR = "ops_probe"  # tests/e2e/probe_actors.py (which needs a configured broker to import)


@pytest.fixture
def probe_queue(settings):
    name = settings.queue_name + ".probe"
    yield name
    delete_queues(RABBITMQ_URL, name)


@pytest.fixture
def worker(app, settings_env, probe_queue, tmp_path):
    """One worker process with one thread, exporting its metrics on a free port."""
    port = processes.free_port()
    env = processes.clean_env(
        **settings_env,
        dramatiq_prom_port=str(port),
        dramatiq_prom_db=str(tmp_path / "prometheus"),
    )
    log_path = tmp_path / "dramatiq.log"
    command = [DRAMATIQ, "tasks", "tests.e2e.probe_actors", "-p", "1", "-t", "1", "-Q", probe_queue]
    process = processes.start(command, env, log_path)
    try:
        processes.wait_until_up(f"http://127.0.0.1:{port}/", process, log_path)
        yield process, f"http://127.0.0.1:{port}/", log_path
    finally:
        processes.stop(process)


def _send(queue: str, markers: Path, name: str, seconds: float) -> None:
    # Through a broker of its own: the process-wide one must not learn the probe queue, or a
    # later test's in-process worker would consume it, find it deleted, and declare it again,
    # leaving it on RabbitMQ after the run.
    broker = RabbitmqBroker(url=RABBITMQ_URL)
    try:
        broker.enqueue(
            dramatiq.Message(
                queue_name=queue,
                actor_name=PROBE_ACTOR,
                args=(str(markers), name, seconds),
                kwargs={},
                options={},
            )
        )
    finally:
        broker.close()


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} did not appear"
        time.sleep(0.05)


def _messages_total(url: str) -> float:
    for family in text_string_to_metric_families(requests.get(url, timeout=5).text):
        for sample in family.samples:
            if (
                sample.name == "dramatiq_messages_total"
                and sample.labels["actor_name"] == PROBE_ACTOR
            ):
                return sample.value
    return 0.0


def _ready_messages(queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        return connection.channel().queue_declare(queue=queue, passive=True).method.message_count
    finally:
        connection.close()


def test_worker_exports_dramatiq_metrics_on_its_own_port(worker, probe_queue, tmp_path):
    _, metrics_url, _ = worker
    _send(probe_queue, tmp_path, "quick", 0)
    _wait_for(tmp_path / "quick.done")
    deadline = time.monotonic() + 10
    while _messages_total(metrics_url) < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _messages_total(metrics_url) == 1


def test_sigterm_finishes_the_message_in_progress_and_returns_the_rest(
    worker, probe_queue, tmp_path
):
    process, _, log_path = worker
    _send(probe_queue, tmp_path, "slow", 2)
    for name in ("waiting-1", "waiting-2", "waiting-3"):
        _send(probe_queue, tmp_path, name, 2)
    _wait_for(tmp_path / "slow.started")

    # To the main process only, as `docker stop` does; it relays the signal to its workers.
    os.kill(process.pid, signal.SIGTERM)
    exit_code = process.wait(timeout=30)

    log = log_path.read_text()
    assert exit_code == 0, log[-3000:]
    assert (tmp_path / "slow.done").exists(), "the message in progress was cut short"
    assert not list(tmp_path.glob("waiting-*.started"))
    assert _ready_messages(probe_queue) == 3, "messages not started must be back in the queue"
