"""What one `make bench` run does, read from BENCH_* environment variables.

`BENCH_QUICK=1` is a smoke run (small data sets, seconds-long measurements) that proves the
harness works; its figures mean little. Everything else defaults to the full run.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("baseline", "create", "reads", "pipeline", "sweep", "memory")


@dataclass(frozen=True)
class BenchOptions:
    quick: bool
    duration: float  # seconds of each HTTP measurement
    warmup: float  # seconds of load before each measurement, not counted
    connections: int  # fixed concurrency of the load generator
    load_threads: int  # wrk threads
    small_rows: int  # payments of the merchant in the "small" read data set
    big_rows: int  # ... and in the "big" one
    pipeline_payments: int
    sweep_notifications: int
    scenarios: tuple[str, ...]
    profile: bool  # py-spy the gunicorn workers where a target is missed
    profile_seconds: float
    load_generator: str  # "wrk", "python" or "auto"
    output: Path  # the markdown report; the plot goes beside it
    workdir: Path  # logs, profiles, raw results of this run
    source: Path | None  # BENCH_FROM: write the report of a saved run, measure nothing
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    postgres_admin_dsn: str = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    redis_url: str = "redis://127.0.0.1:6379/0"


def from_env(environ: dict[str, str] | None = None) -> BenchOptions:
    env = os.environ if environ is None else environ
    quick = _flag(env.get("BENCH_QUICK"))
    run_id = uuid.uuid4().hex[:8]
    scenarios = tuple(
        name.strip() for name in env.get("BENCH_SCENARIOS", ",".join(SCENARIOS)).split(",")
    )
    unknown = set(scenarios) - set(SCENARIOS) - {""}
    if unknown:
        raise SystemExit(f"bench: unknown BENCH_SCENARIOS {sorted(unknown)}; known: {SCENARIOS}")
    default_output = PROJECT_ROOT / "docs" / "benchmarks.md"
    workdir = Path(env.get("BENCH_WORKDIR", PROJECT_ROOT / "bench" / "results" / run_id))
    if quick:
        # A smoke run must not overwrite the published figures unless asked to.
        default_output = workdir / "benchmarks.md"
    return BenchOptions(
        quick=quick,
        duration=float(env.get("BENCH_DURATION", 3 if quick else 20)),
        warmup=float(env.get("BENCH_WARMUP", 1 if quick else 3)),
        connections=int(env.get("BENCH_CONNECTIONS", 16)),
        load_threads=int(env.get("BENCH_LOAD_THREADS", 2)),
        small_rows=int(env.get("BENCH_SMALL_ROWS", 10_000)),
        big_rows=int(env.get("BENCH_BIG_ROWS", 50_000 if quick else 1_000_000)),
        pipeline_payments=int(env.get("BENCH_PIPELINE_N", 300 if quick else 5_000)),
        sweep_notifications=int(env.get("BENCH_SWEEP_N", 1_000 if quick else 10_000)),
        scenarios=tuple(name for name in scenarios if name),
        profile=_flag(env.get("BENCH_PROFILE", "0" if quick else "1")),
        profile_seconds=float(env.get("BENCH_PROFILE_SECONDS", 5 if quick else 15)),
        load_generator=env.get("BENCH_LOAD_GENERATOR", "auto"),
        output=Path(env.get("BENCH_OUT", default_output)),
        workdir=workdir,
        source=Path(env["BENCH_FROM"]) if env.get("BENCH_FROM") else None,
        run_id=run_id,
    )


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")
