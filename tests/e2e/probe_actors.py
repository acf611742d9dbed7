"""A test-only actor for the worker process tests: `dramatiq tasks tests.e2e.probe_actors`.

It sleeps as long as its message says and leaves marker files, so a test can see which messages
started and which finished. Its queue hangs off the run's QUEUE_NAME, so runs never share it.
"""

import time
from pathlib import Path

import dramatiq

from payments.messaging import broker_settings

PROBE_ACTOR = "ops_probe"


def probe_queue_name() -> str:
    return broker_settings().queue_name + ".probe"


@dramatiq.actor(actor_name=PROBE_ACTOR, queue_name=probe_queue_name(), max_retries=0)
def ops_probe(marker_dir: str, name: str, seconds: float) -> None:
    """Contract: (marker_dir, name, seconds); writes <name>.started, sleeps, writes <name>.done."""
    directory = Path(marker_dir)
    (directory / f"{name}.started").touch()
    time.sleep(seconds)
    (directory / f"{name}.done").touch()
