"""docs/benchmarks.png: throughput against the baseline, latency per scenario, and the
commit-to-merchant latency distribution of the notification pipeline."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from bench.context import Results
from bench.stats import ratio


def draw(results: Results, labels: dict[str, str], path: Path) -> None:
    figure, (speed, latency, pipeline) = plt.subplots(
        1, 3, figsize=(18, 6), layout="constrained", width_ratios=[1.2, 1.2, 1]
    )
    _throughput(speed, results, labels)
    _latency(latency, results, labels)
    _pipeline(pipeline, results)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _keys(results: Results) -> list[str]:
    """The measured scenarios, less the baseline and any load answered mostly with errors."""
    return [key for key, result in results.http.items() if key != "baseline" and result.valid]


def _throughput(axes, results: Results, labels: dict[str, str]) -> None:
    baseline = results.http.get("baseline")
    keys = _keys(results)
    ratios = [ratio(results.http[key].rps, baseline.rps if baseline else None) or 0 for key in keys]
    bars = axes.barh([labels.get(key, key) for key in keys], ratios, color="#4C72B0")
    for bar, key in zip(bars, keys, strict=True):
        axes.text(
            bar.get_width(),
            bar.get_y() + bar.get_height() / 2,
            f" {results.http[key].rps:,.0f}/s",
            va="center",
            fontsize=8,
        )
    for limit, name in ((0.15, "create target"), (0.4, "show target"), (1.0, "baseline")):
        axes.axvline(limit, color="grey", linestyle=":", linewidth=1)
        _mark(axes, limit, name)
    axes.invert_yaxis()
    axes.set_xlabel("requests/s as a fraction of the baseline (Flask hello)")
    rps = f"{baseline.rps:,.0f} req/s" if baseline else "not measured"
    axes.set_title(f"Throughput (baseline = 1.0 = {rps})")


def _latency(axes, results: Results, labels: dict[str, str]) -> None:
    keys = ["baseline", *_keys(results)] if "baseline" in results.http else _keys(results)
    names = [labels.get(key, key) for key in keys]
    positions = range(len(keys))
    p50 = [results.http[key].p50_ms or 0 for key in keys]
    p99 = [results.http[key].p99_ms or 0 for key in keys]
    axes.barh([p - 0.2 for p in positions], p50, height=0.4, label="p50", color="#55A868")
    axes.barh([p + 0.2 for p in positions], p99, height=0.4, label="p99", color="#C44E52")
    axes.set_yticks(list(positions), names)
    axes.invert_yaxis()
    _mark(axes, 100, "create p99 target")
    axes.set_xscale("log")
    axes.set_xlabel("latency, ms (log scale)")
    axes.set_title("Latency at fixed concurrency")
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)


def _pipeline(axes, results: Results) -> None:
    axes.set_title("Pipeline: commit -> merchant")
    curves = [
        (results.paced_pipeline, "paced at the target rate", "-"),
        (results.pipeline, "as fast as taken (flood)", "--"),
    ]
    curves = [(run, name, style) for run, name, style in curves if run and run.latencies_ms]
    if not curves:
        axes.text(0.5, 0.5, "not measured", ha="center", va="center", transform=axes.transAxes)
        return
    for run, name, style in curves:
        ordered = sorted(run.latencies_ms)
        share = [(index + 1) / len(ordered) for index in range(len(ordered))]
        axes.plot(ordered, share, color="#8172B2", linestyle=style, label=name)
    axes.legend(loc="lower right", fontsize=8)
    for limit, name in ((50, "p50 target"), (500, "p99 target")):
        _mark(axes, limit, name)
    axes.set_xscale("log")
    axes.set_xlabel("latency, ms (log scale)")
    axes.set_ylabel("share of notifications delivered")
    axes.grid(alpha=0.3)


def _mark(axes, x: float, name: str) -> None:
    """A dotted vertical line at a target, named along it at the bottom of the panel."""
    axes.axvline(x, color="grey", linestyle=":", linewidth=1)
    axes.text(
        x,
        0.01,
        f" {name}",
        transform=axes.get_xaxis_transform(),
        fontsize=7,
        color="dimgrey",
        rotation=90,
        va="bottom",
        ha="right",
    )
