"""A run's measurements as JSON in its work folder, written before the report is, so a report
can be written again (BENCH_FROM=<folder>/results.json) without measuring again."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from bench.context import PipelineResult, Results, SweepResult
from bench.loadgen import LoadResult


def save(path: Path, results: Results, conditions: list[str]) -> None:
    document = {"conditions": conditions, "results": asdict(results)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1))


def load(path: Path) -> tuple[Results, list[str]]:
    document = json.loads(path.read_text())
    raw = document["results"]
    results = Results(
        http={key: _load_result(value) for key, value in raw["http"].items()},
        memory_mb=raw["memory_mb"],
        data_sets=raw["data_sets"],
        profiles=raw["profiles"],
        notes=raw["notes"],
    )
    results.pipeline = _load_pipeline(raw["pipeline"])
    results.floor_pipeline = _load_pipeline(raw.get("floor_pipeline"))
    results.paced_pipeline = _load_pipeline(raw.get("paced_pipeline"))
    results.floor_paced_pipeline = _load_pipeline(raw.get("floor_paced_pipeline"))
    if raw["sweep"]:
        results.sweep = SweepResult(**raw["sweep"])
    return results, document["conditions"]


def _load_pipeline(value: dict | None) -> PipelineResult | None:
    if not value:
        return None
    return PipelineResult(**dict(value, intake=_load_result(value["intake"])))


def _load_result(value: dict) -> LoadResult:
    # JSON object keys are strings; status codes are ints again here.
    statuses = {int(code): count for code, count in value["statuses"].items()}
    return LoadResult(**dict(value, statuses=statuses))
