"""The sweep scheduler: one leader however many run (Redis lock or PostgreSQL advisory lock),
takeover when the leader dies, clean exit on SIGTERM, refusal of a bad configuration."""

from __future__ import annotations

import signal
import sys
import threading
import time
import uuid

import pika
import pytest
import redis

from tests.conftest import RABBITMQ_URL, REDIS_URL
from tests.support import processes
from tests.support.rabbitmq import delete_queues
from tests.support.redis_keys import delete_keys

INTERVAL = 0.5


@pytest.fixture
def scheduling(app):
    """tasks.scheduler, imported only once the test app exists: importing the `tasks` package
    in a process with no app yet builds one from the environment (the worker's entry point)."""
    import tasks.scheduler

    return tasks.scheduler


# --- the loop and the locks, in this process ----------------------------------------------


class _Counter:
    def __init__(self) -> None:
        self.sent = 0

    def __call__(self) -> bool:
        self.sent += 1
        return True


@pytest.mark.parametrize("backend", ["redis", "postgres"])
def test_only_one_scheduler_sweeps_and_the_other_takes_over(backend, settings, scheduling):
    key = f"payments-test-{uuid.uuid4().hex}:scheduler:leader"

    def lock():
        if backend == "redis":
            return scheduling.RedisLeaderLock(redis.Redis.from_url(REDIS_URL), key)
        return scheduling.PostgresLeaderLock(settings.database_url)

    runs = []
    for _ in range(2):
        stop, counter = threading.Event(), _Counter()
        scheduler = scheduling.SweepScheduler(lock(), counter, 0.1, stop)
        thread = threading.Thread(target=scheduler.run, daemon=True)
        runs.append((scheduler, stop, counter, thread))
        thread.start()
    try:
        time.sleep(1.0)
        leaders = [run for run in runs if run[0].is_leader]
        assert len(leaders) == 1
        (leader,) = leaders
        (standby,) = [run for run in runs if run is not leader]
        assert leader[2].sent >= 5
        assert standby[2].sent == 0
        # The leader stops (and releases): the standby takes over at its next poll.
        leader[1].set()
        leader[3].join(timeout=5)
        deadline = time.monotonic() + 3
        while standby[2].sent == 0:
            assert time.monotonic() < deadline, "the standby never took over"
            time.sleep(0.05)
        assert standby[0].is_leader
    finally:
        for _, stop, _, thread in runs:
            stop.set()
            thread.join(timeout=5)
        delete_keys(REDIS_URL, key)


def test_a_leader_that_cannot_renew_steps_down(scheduling):
    key = f"payments-test-{uuid.uuid4().hex}:scheduler:leader"
    client = redis.Redis.from_url(REDIS_URL)
    lock = scheduling.RedisLeaderLock(client, key)
    try:
        assert lock.acquire()
        assert lock.renew()
        client.delete(key)  # e.g. the TTL ran out during a long pause
        assert not lock.renew()
        other = scheduling.RedisLeaderLock(client, key)
        assert other.acquire()
        assert not lock.acquire()
    finally:
        client.delete(key)


# --- real `python -m tasks.scheduler` processes --------------------------------------------


@pytest.fixture
def scheduler_env(settings_env, app):
    """Env for scheduler processes with their own queue (no worker reads it) and key prefix."""
    run = uuid.uuid4().hex[:8]
    env = {
        **settings_env,
        "QUEUE_NAME": f"payments-test-sched-{run}.merchant",
        "REDIS_KEY_PREFIX": f"payments-test-sched-{run}:",
        "SWEEP_INTERVAL_SECONDS": str(INTERVAL),
        "LOG_LEVEL": "INFO",
    }
    yield env
    delete_queues(RABBITMQ_URL, env["QUEUE_NAME"], env["QUEUE_NAME"] + ".sweep")
    delete_keys(REDIS_URL, env["REDIS_KEY_PREFIX"])


def _sweeps_queued(env) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        channel = connection.channel()
        declared = channel.queue_declare(queue=env["QUEUE_NAME"] + ".sweep", passive=True)
        return declared.method.message_count
    except pika.exceptions.ChannelClosedByBroker:
        return 0
    finally:
        connection.close()


def _start(env, tmp_path, name):
    log_path = tmp_path / f"{name}.log"
    command = [sys.executable, "-m", "tasks.scheduler"]
    return processes.start(command, processes.clean_env(**env), log_path), log_path


def _wait_for_line(log_path, text, process, timeout=30.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log_path.read_text(errors="replace"):
            return time.monotonic()
        if process.poll() is not None:
            raise AssertionError(f"exited {process.returncode}: {log_path.read_text()}")
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not logged in {timeout}s:\n{log_path.read_text()}")


def _start_pair(env, tmp_path):
    """Two schedulers started together; returns (leader, standby) as (process, log) pairs."""
    pair = [_start(env, tmp_path, name) for name in ("a", "b")]
    for process, log_path in pair:
        _wait_for_line(log_path, "waiting for leadership", process)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        leaders = [p for p in pair if "is the leader" in p[1].read_text()]
        if leaders:
            (leader,) = leaders
            (standby,) = [p for p in pair if p is not leader]
            return leader, standby
        time.sleep(0.05)
    raise AssertionError("no scheduler became the leader")


def _stop_all(pair):
    for process, _ in pair:
        processes.stop(process)


@pytest.mark.e2e
@pytest.mark.parametrize("backend", ["redis", "postgres"])
def test_standby_takes_over_within_seconds_of_a_sigkill(
    backend, scheduler_env, tmp_path, record_property
):
    env = dict(scheduler_env)
    if backend == "postgres":
        env.pop("REDIS_URL")
    (leader, _), (standby, standby_log) = pair = _start_pair(env, tmp_path)
    try:
        # Both alive: only one sends (two leaders would double the rate).
        before = _sweeps_queued(env)
        time.sleep(2.0)
        sent = _sweeps_queued(env) - before
        assert 2 <= sent <= 2.0 / INTERVAL + 2, sent
        assert "is the leader" not in standby_log.read_text()

        killed_at = time.monotonic()
        processes.stop(leader, signal.SIGKILL)
        took_over_at = _wait_for_line(standby_log, "is the leader", standby, timeout=15)
        takeover = took_over_at - killed_at
        record_property(f"scheduler_takeover_seconds_{backend}", round(takeover, 2))
        print(f"\n{backend}: standby took over {takeover:.2f}s after SIGKILL")
        assert takeover < 5.0
        after = _sweeps_queued(env)
        time.sleep(4 * INTERVAL)
        assert _sweeps_queued(env) > after  # the new leader sweeps
    finally:
        _stop_all(pair)


@pytest.mark.e2e
def test_sigterm_releases_leadership_and_exits_0(scheduler_env, tmp_path):
    (leader, leader_log), (standby, standby_log) = pair = _start_pair(scheduler_env, tmp_path)
    try:
        stopped_at = time.monotonic()
        assert processes.stop(leader, signal.SIGTERM, timeout=10) == 0
        assert "leadership released" in leader_log.read_text()
        took_over_at = _wait_for_line(standby_log, "is the leader", standby, timeout=10)
        assert took_over_at - stopped_at < 2.5  # released, not left to expire
    finally:
        _stop_all(pair)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"NOTIFY_RETRY_SCHEDULE": "5,soon"}, "NOTIFY_RETRY_SCHEDULE"),
        ({"RABBITMQ_URL": ""}, "RABBITMQ_URL is not set"),
    ],
)
def test_a_bad_configuration_is_refused_with_one_line(scheduler_env, tmp_path, override, expected):
    process, log_path = _start({**scheduler_env, **override}, tmp_path, "bad")
    assert process.wait(timeout=60) != 0
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert expected in lines[0]


def test_an_unreachable_lock_keeps_the_scheduler_standing_by_and_says_so(scheduling, caplog):
    down = redis.Redis.from_url(f"redis://127.0.0.1:{processes.free_port()}/0")
    lock = scheduling.RedisLeaderLock(down, "payments-test-unreachable")
    stop, counter = threading.Event(), _Counter()
    scheduler = scheduling.SweepScheduler(lock, counter, 0.1, stop)
    thread = threading.Thread(target=scheduler.run, daemon=True)
    thread.start()
    time.sleep(0.3)
    stop.set()
    thread.join(timeout=5)
    assert counter.sent == 0
    assert not scheduler.is_leader
    assert not lock.acquire()
    assert not lock.acquire()
    warnings = [r for r in caplog.records if "cannot reach its leader lock" in r.getMessage()]
    assert len(warnings) == 1  # said once a minute, not once per poll
