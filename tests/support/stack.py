"""The production processes of the service on the machine's PostgreSQL/RabbitMQ/Redis, for
fault-injection tests: a fresh database (migrated and seeded with the real commands),
`gunicorn wsgi:app`, `dramatiq tasks`, `python -m tasks.scheduler`, a fake provider and a fake
merchant on loopback, and TCP proxies on the links a scenario wants to cut.

Its own queue names and Redis prefix keep it apart from other runs; `close()` removes them.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pika
import psycopg2
import requests

from tests.support import databases, processes
from tests.support.fakes import FakeMerchant, FakeProvider
from tests.support.rabbitmq import delete_queues
from tests.support.redis_keys import delete_keys
from tests.support.tcp_proxy import TcpProxy

BIN = Path(sys.executable).parent
RABBITMQ_PORT, REDIS_PORT, POSTGRES_PORT = 5672, 6379, 5432
ROLES = ("api", "worker", "scheduler")

# SPEC's schedules compressed so a scenario runs in seconds. The lease keeps SPEC's default
# (3 x NOTIFY_TIMEOUT_SECONDS + 5 = 11 s): it must outlast a whole attempt's quick tries.
# The provider budget is wide: most scenarios create hundreds of payments through a fast fake
# provider as their setup, and a loaded 2-core machine must not turn one into a 502 (the
# budget itself is test_provider_faults' subject, which narrows it to 1 s).
FAST_SETTINGS = {
    "NOTIFY_RETRY_SCHEDULE": "1,1,2",
    "NOTIFY_TIMEOUT_SECONDS": "2",
    "SWEEP_INTERVAL_SECONDS": "0.5",
    "PROVIDER_TIMEOUT_SECONDS": "5",
}


@dataclass
class StackOptions:
    api_workers: int = 2
    api_threads: int = 8
    worker: bool = True  # scenarios about creation alone leave the CPU to the API
    worker_processes: int = 1
    worker_threads: int = 4
    schedulers: int = 1
    # dependency ("db", "broker", "redis") -> the roles that reach it through one TcpProxy
    proxied: dict[str, tuple[str, ...]] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)


class ServiceProcess:
    """One production process; every (re)start logs to a new file, all kept for inspection."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_dir: Path):
        self.name, self.command, self.env, self.log_dir = name, command, env, log_dir
        self.process: subprocess.Popen | None = None
        self.log_paths: list[Path] = []

    @property
    def log_path(self) -> Path:
        return self.log_paths[-1]

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> ServiceProcess:
        self.log_paths.append(self.log_dir / f"{self.name}-{len(self.log_paths)}.log")
        self.process = processes.start(self.command, self.env, self.log_path)
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        if self.process is None:
            return None
        return processes.stop(self.process, sig, timeout)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM to the main process only, as an orchestrator stops a container; it must
        stop its children itself. Returns the exit code (killed if not stopped in time)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} did not stop within {timeout}s of SIGTERM") from None

    def kill(self) -> None:
        """SIGKILL the whole process group (master and children): a crash, nothing cleans up."""
        self.stop(signal.SIGKILL, timeout=10)

    def log_text(self) -> str:
        return "".join(path.read_text(errors="replace") for path in self.log_paths)


class Stack:
    def __init__(self, workdir: Path, options: StackOptions | None = None) -> None:
        self.options = options or StackOptions()
        self.workdir = workdir
        self.run_id = uuid.uuid4().hex[:8]
        self.db_name = databases.new_database_name("payments_rel")
        self.queue_name = f"payments-rel-{self.run_id}.merchant"
        self.redis_prefix = f"payments-rel-{self.run_id}:"
        self.webhook_secret = f"reliability-webhook-secret-{self.run_id}"
        self.api_port = processes.free_port()
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.proxies: dict[str, TcpProxy] = {}
        self.processes: dict[str, ServiceProcess] = {}
        self.provider = FakeProvider()
        self.merchant = FakeMerchant()
        self.credentials: dict = {}
        databases.create_database(self.db_name)

    # --- configuration --------------------------------------------------------------------

    def env(self, role: str) -> dict[str, str]:
        """SPEC's variables for one process; a dependency in `proxied` for it is reached
        through its proxy."""
        port = {
            name: self.proxies[name].port
            if name in self.proxies and role in self.options.proxied[name]
            else default
            for name, default in (
                ("db", POSTGRES_PORT),
                ("broker", RABBITMQ_PORT),
                ("redis", REDIS_PORT),
            )
        }
        settings = {
            "PAYMENTS_DB_URL": f"postgresql://postgres@127.0.0.1:{port['db']}/{self.db_name}",
            "RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:{port['broker']}/%2F",
            "REDIS_URL": f"redis://127.0.0.1:{port['redis']}/0",
            "QUEUE_NAME": self.queue_name,
            "REDIS_KEY_PREFIX": self.redis_prefix,
            "INTERNAL_WEBHOOK_SECRET": self.webhook_secret,
            "PROVIDER_URL": self.provider.url,
            "MERCHANT_CALLBACK_URL": f"{self.merchant.url}/webhooks",
            "SERVICE_URL": self.base_url,
            "SANDBOX_ENABLED": "false",
            "INSTANCE_PATH": str(self.workdir / "instance"),
            "LOG_LEVEL": "INFO",
            "GUNICORN_BIND": f"127.0.0.1:{self.api_port}",
            "GUNICORN_WORKERS": str(self.options.api_workers),
            "GUNICORN_THREADS": str(self.options.api_threads),
            "GUNICORN_GRACEFUL_TIMEOUT": "15",
            # Small pools: PostgreSQL's 100 connections are shared with the rest of the suite
            # (and, on a developer's machine, with whatever else runs).
            "DB_POOL_SIZE": "4",
            "DB_MAX_OVERFLOW": "6",
            **FAST_SETTINGS,
            **self.options.settings,
        }
        return processes.clean_env(**settings)

    def proxy(self, dependency: str) -> TcpProxy:
        return self.proxies[dependency]

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> Stack:
        targets = {"db": POSTGRES_PORT, "broker": RABBITMQ_PORT, "redis": REDIS_PORT}
        for dependency in self.options.proxied:
            self.proxies[dependency] = TcpProxy(targets[dependency]).start()
        self._cli(["db", "upgrade"])
        self.credentials = json.loads(self._cli(["seed", "--json"]))
        self.merchant.secrets.update(
            {m["id"]: m["webhook_secret"] for m in self.credentials["merchants"]}
        )
        self.start_api()
        if self.options.worker:
            self.start_worker()
        for index in range(self.options.schedulers):
            self.start_scheduler(f"scheduler{index}")
        return self

    def start_api(self) -> ServiceProcess:
        api = self._process("api", "api", [str(BIN / "gunicorn"), "wsgi:app"])
        api.start()
        self._wait_until_answering(api)
        return api

    def start_worker(self, name: str = "worker") -> ServiceProcess:
        opts = self.options
        command = [str(BIN / "dramatiq"), "tasks", "-p", str(opts.worker_processes)]
        worker = self._process(name, "worker", [*command, "-t", str(opts.worker_threads)])
        worker.start()
        self.wait_for_consumers(worker)
        return worker

    def start_scheduler(self, name: str = "scheduler0") -> ServiceProcess:
        scheduler = self._process(name, "scheduler", [str(BIN / "python"), "-m", "tasks.scheduler"])
        return scheduler.start()

    def close(self) -> None:
        # Stopped side by side: each may take its grace period.
        with ThreadPoolExecutor(max_workers=max(1, len(self.processes))) as pool:
            list(pool.map(lambda process: process.stop(timeout=20), self.processes.values()))
        for fake in (self.provider, self.merchant):
            fake.close()
        for proxy in self.proxies.values():
            proxy.close()
        delete_queues(_direct_broker_url(), self.queue_name, f"{self.queue_name}.sweep")
        delete_keys(f"redis://127.0.0.1:{REDIS_PORT}/0", self.redis_prefix)
        databases.drop_database(self.db_name)

    def _process(self, name: str, role: str, command: list[str]) -> ServiceProcess:
        if name not in self.processes:
            self.processes[name] = ServiceProcess(name, command, self.env(role), self.workdir)
        return self.processes[name]

    def _cli(self, arguments: list[str]) -> str:
        result = subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", *arguments],
            cwd=processes.PROJECT_ROOT,
            env=self.env("api"),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"flask {' '.join(arguments)} failed:\n{result.stderr}")
        return result.stdout

    def _wait_until_answering(self, api: ServiceProcess, timeout: float = 90) -> None:
        """Up once /ping answers; a busy machine may make the first answers slow."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not api.running():
                raise AssertionError(f"{api.name} exited:\n{api.log_text()[-4000:]}")
            try:
                if requests.get(f"{self.base_url}/api/v1/payments/ping", timeout=5).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{api.name} never answered:\n{api.log_text()[-4000:]}")

    def wait_for_consumers(self, worker: ServiceProcess, timeout: float = 60) -> None:
        """A worker is ready once it consumes the notify queue (seen from RabbitMQ itself)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not worker.running():
                raise AssertionError(f"{worker.name} exited:\n{worker.log_text()[-4000:]}")
            if queue_consumers(self.queue_name) > 0:
                return
            time.sleep(0.25)
        raise AssertionError(f"{worker.name} never consumed:\n{worker.log_text()[-4000:]}")

    # --- inspection -----------------------------------------------------------------------

    def sql(self, query: str, *params) -> list[tuple]:
        """Run SQL on the stack's database directly (never through a proxy)."""
        connection = psycopg2.connect(
            host="127.0.0.1", port=POSTGRES_PORT, user="postgres", dbname=self.db_name
        )
        try:
            with connection, connection.cursor() as cursor:
                cursor.execute(query, params)
                return cursor.fetchall() if cursor.description else []
        finally:
            connection.close()

    def log_files(self) -> list[Path]:
        return [path for process in self.processes.values() for path in process.log_paths]


def queue_consumers(queue_name: str) -> int:
    return _queue_state(queue_name)[0]


def queue_depth(queue_name: str) -> int:
    """Messages ready in the queue (not counting those a consumer holds)."""
    return _queue_state(queue_name)[1]


def _queue_state(queue_name: str) -> tuple[int, int]:
    # A passive declare of a queue not declared yet closes the channel; pika logs it loudly.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    connection = pika.BlockingConnection(pika.URLParameters(_direct_broker_url()))
    try:
        channel = connection.channel()
        declared = channel.queue_declare(queue=queue_name, passive=True)
        return declared.method.consumer_count, declared.method.message_count
    except pika.exceptions.ChannelClosedByBroker:
        return 0, 0  # not declared yet
    finally:
        if connection.is_open:
            connection.close()


def _direct_broker_url() -> str:
    return f"amqp://guest:guest@127.0.0.1:{RABBITMQ_PORT}/%2F"
