"""Starting and stopping the service's real processes in tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import requests

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Variables of SPEC that a developer's shell might carry; a test process starts without them.
SERVICE_VARIABLES = [
    "PAYMENTS_DB_URL",
    "DATABASE_URL",
    "LOGS_DB_URL",
    "RABBITMQ_URL",
    "REDIS_URL",
    "QUEUE_NAME",
    "PROVIDER_URL",
    "MERCHANT_CALLBACK_URL",
    "INTERNAL_WEBHOOK_SECRET",
    "AUTH_MODE",
    "SANDBOX_ENABLED",
    "SERVICE_URL",
    "REDIS_KEY_PREFIX",
    "INSTANCE_PATH",
    "RATE_LIMIT_PER_MERCHANT",
    "DB_POOL_SIZE",
    "DB_MAX_OVERFLOW",
    "DB_PREPARED_STATEMENTS",
    "PROMETHEUS_MULTIPROC_DIR",
    "dramatiq_prom_port",
    "dramatiq_prom_db",
    "GUNICORN_BIND",
    "GUNICORN_WORKERS",
    "GUNICORN_THREADS",
    "GUNICORN_PRELOAD",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    env.update(overrides)
    return env


def start(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """Start a process in its own process group, output to `log_path`."""
    log = log_path.open("wb")
    return subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
    """Signal the whole process group and wait; kill it if it does not stop in time."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return process.wait(timeout=timeout)


def wait_until_up(url: str, process: subprocess.Popen, log_path: Path, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"process exited ({process.returncode}):\n{log_path.read_text()}")
        try:
            response = requests.get(url, timeout=2)
            if response.status_code < 500:
                return response
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.25)
    raise AssertionError(f"{url} did not come up in {timeout}s:\n{log_path.read_text()[-4000:]}")


@contextlib.contextmanager
def make_run(workdir: Path) -> Iterator[tuple[str, Path, Path]]:
    """`make run` (the embedded default) on a free port with a fresh instance folder under
    `workdir`, as a developer starts it: yields (base URL, instance folder, log file)."""
    port = free_port()
    instance = workdir / "instance"
    env = clean_env(INSTANCE_PATH=str(instance), PORT=str(port))
    log_path = workdir / "make-run.log"
    process = start(["make", "--no-print-directory", "run"], env, log_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/api/v1/payments/ping", process, log_path)
        yield base, instance, log_path
    finally:
        stop(process)
