"""The issue's targets, evaluated on one run's results (2 cores shared by everything)."""

from __future__ import annotations

from bench.context import Results
from bench.stats import Target, percentile, ratio

# The throughput and latency targets the floor is compared with too (bench/report.py).
CREATE_VS_BASELINE, CREATE_P99_MS = 0.15, 100
SHOW_VS_BASELINE = 0.4
PIPELINE_PER_SECOND, PIPELINE_P99_MS = 300, 500
# The paced run's latency counts only if the webhook took the reports at (nearly) that rate: a
# service that cannot keep up would otherwise be judged at a lighter load.
PACED_SHARE_TAKEN = 0.95


def evaluate(results: Results) -> list[Target]:
    # A load answered mostly with errors measured the error path: no figure, not a "met".
    http = {key: result for key, result in results.http.items() if result.valid}
    rows = results.data_sets
    baseline = http["baseline"].rps if "baseline" in http else None
    create = http.get("create")
    targets = [
        Target(
            "create: req/s vs baseline",
            ratio(create.rps, baseline) if create else None,
            CREATE_VS_BASELINE,
            at_least=True,
            unit=" x",
            scenario="create",
        ),
        Target(
            "create: p99 latency",
            create.p99_ms if create else None,
            CREATE_P99_MS,
            at_least=False,
            unit=" ms",
            scenario="create",
        ),
    ]
    for label in ("small", "big"):
        show = http.get(f"show @{label}")
        targets.append(
            Target(
                f"show ({_rows(rows, label)}): req/s vs baseline",
                ratio(show.rps, baseline) if show else None,
                SHOW_VS_BASELINE,
                at_least=True,
                unit=" x",
                scenario=f"show @{label}",
            )
        )
    small, big = http.get("list @small"), http.get("list @big")
    targets.append(
        Target(
            f"list p50 at {_rows(rows, 'big')} vs at {_rows(rows, 'small')}",
            ratio(big.p50_ms, small.p50_ms) if small and big else None,
            2.0,
            at_least=False,
            unit=" x",
            scenario="list @big",
        )
    )
    targets += _pipeline_targets(results)
    targets += [
        Target(
            "gunicorn worker peak RSS",
            results.memory_mb.get("gunicorn"),
            150,
            at_least=False,
            unit=" MB",
        ),
        Target(
            "dramatiq worker process peak RSS",
            results.memory_mb.get("dramatiq"),
            200,
            at_least=False,
            unit=" MB",
        ),
    ]
    return targets


def paced_rate_kept(reports_per_second: float) -> bool:
    return reports_per_second >= PACED_SHARE_TAKEN * PIPELINE_PER_SECOND


def _rows(rows: dict[str, int], label: str) -> str:
    return f"{rows[label]:,} rows" if label in rows else f"the {label} data set"


def _pipeline_targets(results: Results) -> list[Target]:
    """Throughput from the reports sent as fast as they are taken, latency from the reports
    paced at the throughput target (bench/pipeline.py says why)."""
    pipeline, paced, sweep = results.pipeline, results.paced_pipeline, results.sweep
    kept_pace = paced is not None and paced_rate_kept(paced.intake.rps)
    latencies = paced.latencies_ms if kept_pace else []
    at_rate = f" at {PIPELINE_PER_SECOND} reports/s"
    return [
        Target(
            "pipeline: deliveries/s",
            pipeline.deliveries_per_second if pipeline else None,
            PIPELINE_PER_SECOND,
            at_least=True,
            unit="/s",
            scenario="pipeline",
        ),
        Target(
            "pipeline: commit -> merchant p50" + at_rate,
            percentile(latencies, 50),
            50,
            at_least=False,
            unit=" ms",
            scenario="pipeline",
        ),
        Target(
            "pipeline: commit -> merchant p99" + at_rate,
            percentile(latencies, 99),
            PIPELINE_P99_MS,
            at_least=False,
            unit=" ms",
            scenario="pipeline",
        ),
        Target(
            f"sweep: {sweep.stranded:,} stranded notifications delivered"
            if sweep
            else "sweep: stranded notifications delivered",
            sweep.seconds if sweep else None,
            30,
            at_least=False,
            unit=" s",
            scenario="sweep",
        ),
    ]
