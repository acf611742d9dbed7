"""docs/benchmarks.md: the run's conditions, figures, targets and profiles.

The whole file is regenerated on every run except the part between the NOTES markers: the
human analysis of the published figures, carried over from the previous file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bench import cpu, profiler
from bench.context import PipelineResult, Results
from bench.http_scenarios import PAGE_SIZE
from bench.stats import Target, format_number, percentile, ratio
from bench.targets import (
    CREATE_P99_MS,
    CREATE_VS_BASELINE,
    PIPELINE_P99_MS,
    PIPELINE_PER_SECOND,
    SHOW_VS_BASELINE,
)

NOTES_START, NOTES_END = "<!-- notes:start -->", "<!-- notes:end -->"
OLD_SERVICE = """\
The old FastAPI service, measured on this kind of machine with the same load generator:
create 29 payments/s with two workers (p99 ~0.9 s); show ~800 req/s; list of a merchant with
1,000,000 payments 17 req/s (exact `count(*)` + `OFFSET`, 55x slower than at 10,000 rows); 12% of
token increments lost under two workers."""

# The fixed part of the report: method and options (kept in markdown, edited as such).
ABOUT = Path(__file__).with_name("about.md")


def labels(results: Results) -> dict[str, str]:
    names = {
        "baseline": "baseline: Flask hello",
        "ping": "service ping",
        "create": "create",
        "floor create": "floor: create (bench/floor.py)",
    }
    for label, rows in results.data_sets.items():
        deep = max(1, rows // PAGE_SIZE // 2)
        names[f"show @{label}"] = f"show ({rows:,} rows)"
        names[f"floor show @{label}"] = f"floor: show ({rows:,} rows, bench/floor.py)"
        names[f"list @{label}"] = f"list page 1 ({rows:,} rows)"
        names[f"list deep @{label}"] = f"list page {deep:,} ({rows:,} rows)"
    return names


def write(
    path: Path, results: Results, targets: list[Target], conditions: list[str], plot_name: str
) -> None:
    notes = _previous_notes(path)
    parts = [
        "# Benchmarks\n",
        "Produced by `make bench` (bench/). Benchmarks, not timed tests: what a user of the "
        "service feels, measured on the production stack on this machine.\n",
        "## This run\n",
        *[f"- {line}" for line in conditions],
        "",
        f"![throughput, latency and notification latency]({plot_name})\n",
        "## Targets\n",
        _targets_table(targets),
        "## Floors: could any implementation meet these targets here?\n",
        _floor_section(results),
        "## HTTP figures\n",
        _http_table(results),
        "## Notification pipeline\n",
        _pipeline_section(results),
        "## CPU per request\n",
        _cpu_section(results),
        "## Peak memory (RSS)\n",
        _memory_table(results),
    ]
    if results.notes:
        parts += ["## Warnings of this run\n", *[f"- {note}" for note in results.notes], ""]
    if results.profiles:
        parts += ["## Profiles of the missed targets (py-spy)\n"]
        parts += [profiler.markdown(key, summaries) for key, summaries in results.profiles.items()]
    parts += ["## Analysis\n", NOTES_START, notes, NOTES_END, ""]
    parts += ["## For scale\n", OLD_SERVICE, "", ABOUT.read_text()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts).rstrip() + "\n")


def _previous_notes(path: Path) -> str:
    try:
        text = path.read_text()
    except OSError:
        return "(No analysis written yet.)"
    start, end = text.find(NOTES_START), text.find(NOTES_END)
    if start < 0 or end < start:
        return "(No analysis written yet.)"
    return text[start + len(NOTES_START) : end].strip("\n")


def _targets_table(targets: list[Target]) -> str:
    lines = ["| target | rule | this run | verdict |", "|---|---|---:|---|"]
    for target in targets:
        figure = format_number(target.figure) + (target.unit if target.figure is not None else "")
        verdict = {True: "met", False: "**NOT met**", None: "not measured"}[target.met]
        lines.append(f"| {target.name} | {target.rule} | {figure} | {verdict} |")
    return "\n".join(lines) + "\n"


def _floor_section(results: Results) -> str:
    """Each missed-able target beside the floor's figure (bench/floor.py): the least work the
    contract needs, on the same libraries, in the same run."""
    http = {key: result for key, result in results.http.items() if result.valid}
    baseline = http["baseline"].rps if "baseline" in http else None
    rows: list[_FloorRow] = []
    if baseline:
        rows.append(
            _FloorRow(
                "create",
                CREATE_VS_BASELINE * baseline,
                _rps(http, "floor create"),
                _rps(http, "create"),
            )
        )
        rows += [
            _FloorRow(
                f"show ({count:,} rows)",
                SHOW_VS_BASELINE * baseline,
                _rps(http, f"floor show @{label}"),
                _rps(http, f"show @{label}"),
            )
            for label, count in results.data_sets.items()
        ]
    pipeline, floor = results.pipeline, results.floor_pipeline
    paced, floor_paced = results.paced_pipeline, results.floor_paced_pipeline
    create, floor_create = http.get("create"), http.get("floor create")
    rows += [
        _FloorRow(
            "pipeline deliveries",
            PIPELINE_PER_SECOND,
            floor.deliveries_per_second if floor else None,
            pipeline.deliveries_per_second if pipeline else None,
        ),
        _FloorRow(
            "create p99 latency",
            CREATE_P99_MS,
            floor_create.p99_ms if floor_create else None,
            create.p99_ms if create else None,
            unit=" ms",
        ),
        _FloorRow(
            f"pipeline p99 latency at {PIPELINE_PER_SECOND} reports/s",
            PIPELINE_P99_MS,
            percentile(floor_paced.latencies_ms, 99) if floor_paced else None,
            percentile(paced.latencies_ms, 99) if paced else None,
            unit=" ms",
        ),
    ]
    lines = [
        "The floor is bench/floor.py: the statements and calls the contract needs, on the same "
        "libraries and gunicorn (and dramatiq) settings, with no validation, error handling, "
        "idempotency, logging or metrics. A target beyond the floor cannot be met by any "
        "implementation of this design on this stack on this machine.\n",
        "| scenario | target | floor | service | service / floor | verdict |",
        "|---|---:|---:|---:|---:|---|",
    ]
    lines += [row.markdown() for row in rows]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class _FloorRow:
    name: str
    target: float
    floor: float | None
    service: float | None
    unit: str = "/s"  # "/s": at least the target; " ms": at most

    def markdown(self) -> str:
        higher_is_better = self.unit == "/s"
        if self.floor is None:
            verdict = "floor not measured"
        elif (self.floor < self.target) if higher_is_better else (self.floor > self.target):
            verdict = "**beyond the floor**: out of reach here"
        else:
            verdict = "the floor meets it"
        share = (
            ratio(self.service, self.floor) if higher_is_better else ratio(self.floor, self.service)
        )
        cells = [
            self.name,
            ("" if higher_is_better else "<= ") + format_number(self.target) + self.unit,
            _with_unit(self.floor, self.unit),
            _with_unit(self.service, self.unit),
            format_number(share, 2) if share else "-",
            verdict,
        ]
        return "| " + " | ".join(cells) + " |"


def _with_unit(value: float | None, unit: str) -> str:
    return format_number(value) + unit if value is not None else "-"


def _rps(http: dict, key: str) -> float | None:
    return http[key].rps if key in http else None


def _http_table(results: Results) -> str:
    baseline = results.http.get("baseline")
    names = labels(results)
    lines = [
        "| scenario | req/s | x baseline | p50 ms | p90 ms | p99 ms | max ms | non-2xx |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, result in results.http.items():
        share = ratio(result.rps, baseline.rps if baseline else None)
        cells = [
            names.get(key, key) + ("" if result.valid else " (errors, see warnings)"),
            format_number(result.rps),
            format_number(share, 2) if share is not None else "-",
            format_number(result.p50_ms),
            format_number(result.p90_ms),
            format_number(result.p99_ms),
            format_number(result.max_ms),
            f"{result.non_2xx + result.socket_errors:,}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cpu_section(results: Results) -> str:
    """bench/cpu.py's figures: what one request costs the whole machine, and the throughput
    the machine's cores could give at that cost."""
    rows: list[tuple[str, dict[str, float], float | None]] = []
    names = labels(results)
    for key, result in results.http.items():
        rows.append((names.get(key, key), result.cpu_ms, result.rps))
    if results.pipeline is not None:
        rows.append(
            (
                "pipeline (per notification)",
                results.pipeline.cpu_ms,
                results.pipeline.deliveries_per_second,
            )
        )
    if results.floor_pipeline is not None:
        rows.append(
            (
                "floor: pipeline (per notification)",
                results.floor_pipeline.cpu_ms,
                results.floor_pipeline.deliveries_per_second,
            )
        )
    if results.sweep is not None and results.sweep.seconds:
        rate = results.sweep.delivered / results.sweep.seconds
        rows.append(("sweep (per notification)", results.sweep.cpu_ms, rate))
    rows = [row for row in rows if row[1]]
    if not rows:
        return "Not measured in this run.\n"
    every = (*cpu.GROUPS, "baseline", "floor worker")
    groups = [g for g in every if any(g in row[1] for row in rows)]
    lines = [
        "Milliseconds of CPU (user + system) each part of the machine spent per request during "
        "the measurement (bench/cpu.py); **ceiling** = cores x 1000 / total, the most this "
        f"machine's {os.cpu_count()} cores could serve at that cost with nothing else running.\n",
        "| scenario | " + " | ".join(groups) + " | total | ceiling /s | measured /s |",
        "|---|" + "---:|" * (len(groups) + 3),
    ]
    for name, cpu_ms, measured in rows:
        cells = [format_number(cpu_ms[g], 2) if g in cpu_ms else "-" for g in groups]
        total = sum(cpu_ms.values())
        lines.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {format_number(total, 2)} | {format_number(cpu.ceiling(cpu_ms))} | "
            + f"{format_number(measured)} |"
        )
    return "\n".join(lines) + "\n"


def _pipeline_section(results: Results) -> str:
    lines = []
    pipeline, paced = results.pipeline, results.paced_pipeline
    if pipeline:
        intake = pipeline.intake
        lines += [
            "- **As fast as the webhook takes them** (the throughput): "
            f"{pipeline.payments:,} pending payments finished by signed provider reports "
            f"({intake.rps:,.0f} reports/s accepted, p50 {format_number(intake.p50_ms)} ms, "
            f"p99 {format_number(intake.p99_ms)} ms; answers {intake.statuses}).",
            f"  - {pipeline.delivered:,} notified ({pipeline.duplicates:,} duplicate deliveries) "
            f"in {pipeline.seconds:.1f} s: **{format_number(pipeline.deliveries_per_second)} "
            "deliveries/s**, first report sent to last notification received.",
            f"  - Outbox row committed -> merchant received it: {_spread(pipeline)}. Under a "
            "flood this is mostly how the 2 cores were shared between taking reports and "
            "delivering them (a backlog waits); reported, not judged.",
        ]
    else:
        lines.append("- Pipeline: not measured in this run.")
    if paced:
        intake = paced.intake
        lines += [
            f"- **Paced at {format_number(paced.paced_per_second)} reports/s** (the latency "
            f"targets): {paced.payments:,} reports sent at {intake.rps:,.0f}/s (answer p50 "
            f"{format_number(intake.p50_ms)} ms, p99 {format_number(intake.p99_ms)} ms; answers "
            f"{intake.statuses}); {paced.delivered:,} notified "
            f"({paced.duplicates:,} duplicate deliveries).",
            f"  - Outbox row committed -> merchant received it: **{_spread(paced)}**.",
        ]
    floor, floor_paced = results.floor_pipeline, results.floor_paced_pipeline
    if floor:
        lines.append(
            f"- Floor (bench/floor.py's webhook, bench/floor_tasks.py's actor): "
            f"{floor.delivered:,} of {floor.payments:,} notified in {floor.seconds:.1f} s, "
            f"**{format_number(floor.deliveries_per_second)} deliveries/s**; commit -> merchant "
            f"{_spread(floor, (50, 99))}"
            + (
                f"; paced at {format_number(floor_paced.paced_per_second)}/s: "
                f"{_spread(floor_paced, (50, 99))}."
                if floor_paced
                else "."
            )
        )
    sweep = results.sweep
    if sweep:
        took = f"{sweep.seconds:.1f} s" if sweep.seconds is not None else "did not finish"
        lines.append(
            f"- Sweep recovery: {sweep.stranded:,} notifications stranded in the outbox "
            f"(`LOG_PENDING`, never sent to the broker); {sweep.delivered:,} delivered; all "
            f"delivered after **{took}**."
        )
    else:
        lines.append("- Sweep recovery: not measured in this run.")
    return "\n".join(lines) + "\n"


def _spread(result: PipelineResult, quantiles: tuple[int, ...] = (50, 90, 99, 100)) -> str:
    latencies = result.latencies_ms
    return ", ".join(f"p{q} {format_number(percentile(latencies, q))} ms" for q in quantiles)


def _memory_table(results: Results) -> str:
    lines = ["| process | peak RSS |", "|---|---:|"]
    names = {"gunicorn": "gunicorn worker", "dramatiq": "dramatiq worker process"}
    for key, value in results.memory_mb.items():
        lines.append(f"| {names.get(key, key)} | {value:,.0f} MB |")
    return "\n".join(lines) + "\n"
