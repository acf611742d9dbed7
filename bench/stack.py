"""The production stack of one bench run: a fresh PostgreSQL database (dropped at the end), its
own RabbitMQ queues and Redis prefix, and the real processes started with SPEC's commands:
`gunicorn wsgi:app` (per gunicorn.conf.py), `dramatiq tasks`, `python -m tasks.scheduler`."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import requests
from psycopg2 import sql

from bench.fakes import FakeUrls
from bench.options import PROJECT_ROOT, BenchOptions
from tests.support import processes
from tests.support.processes import clean_env
from tests.support.rabbitmq import delete_queues
from tests.support.redis_keys import delete_keys

BIN = Path(sys.executable).parent


@dataclass
class Merchant:
    id: int
    api_key: str
    subscription_id: int


@dataclass
class Stack:
    service_url: str
    baseline_url: str
    database_dsn: str
    env: dict[str, str]
    merchants: list[Merchant]
    processes: dict[str, subprocess.Popen]
    webhook_secret: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def service_env(options: BenchOptions, database: str, fakes: FakeUrls, port: int) -> dict:
    env = clean_env()
    env.update(
        PAYMENTS_DB_URL=f"postgresql://postgres@127.0.0.1:5432/{database}",
        RABBITMQ_URL=options.rabbitmq_url,
        REDIS_URL=options.redis_url,
        REDIS_KEY_PREFIX=f"payments-bench-{options.run_id}:",
        QUEUE_NAME=f"payments-bench-{options.run_id}.merchant",
        PROVIDER_URL=fakes.provider,
        MERCHANT_CALLBACK_URL=fakes.merchant,
        INTERNAL_WEBHOOK_SECRET="bench-" + secrets.token_hex(16),
        INSTANCE_PATH=str(options.workdir / "instance"),
        SERVICE_URL=f"http://127.0.0.1:{port}",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        SANDBOX_ENABLED="false",
        LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "INFO"),
        PYTHONUNBUFFERED="1",
    )
    return env


def start_stack(options: BenchOptions, fakes: FakeUrls, stack: ExitStack) -> Stack:
    """Everything is registered on `stack`, so it is torn down in reverse on the way out."""
    database = f"payments_bench_{options.run_id}"
    _admin(options, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    stack.callback(
        _admin,
        options,
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)),
    )
    port, baseline_port = free_port(), free_port()
    env = service_env(options, database, fakes, port)
    queue = env["QUEUE_NAME"]
    stack.callback(delete_queues, options.rabbitmq_url, queue, f"{queue}.sweep", f"{queue}.floor")
    stack.callback(delete_keys, options.redis_url, env["REDIS_KEY_PREFIX"])
    _run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], env, options, "migrate")
    seeded = json.loads(
        _run([str(BIN / "flask"), "--app", "wsgi", "seed", "--json"], env, options, "seed")
    )
    merchants = [Merchant(m["id"], m["api_key"], m["subscription_id"]) for m in seeded["merchants"]]
    processes = {
        "gunicorn": _start([str(BIN / "gunicorn"), "wsgi:app"], env, options, "gunicorn"),
        "dramatiq": _start([str(BIN / "dramatiq"), "tasks"], env, options, "dramatiq"),
    }
    if (PROJECT_ROOT / "tasks" / "scheduler.py").exists():
        processes["scheduler"] = _start(
            [sys.executable, "-m", "tasks.scheduler"], env, options, "scheduler"
        )
    baseline_env = dict(env, GUNICORN_BIND=f"127.0.0.1:{baseline_port}")
    processes["baseline"] = _start(
        [str(BIN / "gunicorn"), "-c", "bench/baseline_gunicorn.py", "bench.baseline_app:app"],
        baseline_env,
        options,
        "baseline",
    )
    # The floor's notify actor (bench/floor_tasks.py), for the floor of the pipeline.
    processes["floor worker"] = _start(
        [str(BIN / "dramatiq"), "bench.floor_tasks"], env, options, "floor-worker"
    )
    for process in processes.values():
        stack.callback(stop, process)
    service_url, baseline_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{baseline_port}"
    _wait_until_up(f"{service_url}/api/v1/payments/ping", processes["gunicorn"], options)
    _wait_until_up(f"{baseline_url}/", processes["baseline"], options)
    return Stack(
        service_url=service_url,
        baseline_url=baseline_url,
        database_dsn=f"host=127.0.0.1 port=5432 user=postgres dbname={database}",
        env=env,
        merchants=merchants,
        processes=processes,
        webhook_secret=env["INTERNAL_WEBHOOK_SECRET"],
    )


def log_path(options: BenchOptions, name: str) -> Path:
    return options.workdir / "logs" / f"{name}.log"


def _run(command: list[str], env: dict, options: BenchOptions, name: str) -> str:
    result = subprocess.run(
        command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False
    )
    log_path(options, name).write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise SystemExit(f"bench: `{' '.join(command[-3:])}` failed:\n{result.stderr[-2000:]}")
    return result.stdout


def _start(command: list[str], env: dict, options: BenchOptions, name: str) -> subprocess.Popen:
    return processes.start(command, env, log_path(options, name))


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM the main process (gunicorn and dramatiq stop their own workers gracefully), then
    SIGKILL the whole process group if it is not gone in time."""
    if process.poll() is not None:
        return
    try:
        process.terminate()
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
    except ProcessLookupError:
        pass


def _wait_until_up(url: str, process: subprocess.Popen, options: BenchOptions) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"bench: {url} process exited; see {options.workdir / 'logs'}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass  # not listening yet, or its workers are still booting
        time.sleep(0.25)
    raise SystemExit(f"bench: {url} did not come up in 120 s; see {options.workdir / 'logs'}")


def _admin(options: BenchOptions, statement: sql.Composable) -> None:
    connection = psycopg2.connect(options.postgres_admin_dsn)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()
