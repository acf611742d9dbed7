"""What the scenarios share: the options, the running stack, and the results they add to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bench import cpu, loadgen
from bench.cpu import CpuMeter
from bench.fakes import FakeUrls
from bench.loadgen import LoadResult, LoadSpec
from bench.options import BenchOptions
from bench.stack import Stack


@dataclass
class PipelineResult:
    payments: int
    delivered: int  # distinct payments the merchant heard about
    duplicates: int  # extra deliveries (at least once)
    seconds: float  # first report sent -> last notification received
    latencies_ms: list[float]  # commit -> merchant, one per delivered payment
    intake: LoadResult  # the provider reports themselves
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per notification delivered
    paced_per_second: float | None = None  # reports sent at this rate; None: as fast as taken

    @property
    def deliveries_per_second(self) -> float | None:
        return self.delivered / self.seconds if self.seconds > 0 else None


@dataclass
class SweepResult:
    stranded: int
    delivered: int
    seconds: float | None  # rows committed -> last one received; None if not all arrived
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per notification delivered


@dataclass
class Results:
    http: dict[str, LoadResult] = field(default_factory=dict)
    pipeline: PipelineResult | None = None
    floor_pipeline: PipelineResult | None = None  # the same through bench/floor.py
    # The same again with the reports paced at the target's rate: the latency targets' load.
    paced_pipeline: PipelineResult | None = None
    floor_paced_pipeline: PipelineResult | None = None
    sweep: SweepResult | None = None
    memory_mb: dict[str, float] = field(default_factory=dict)
    data_sets: dict[str, int] = field(default_factory=dict)  # label -> merchant rows
    # scenario -> "process/mode" (e.g. "gunicorn/wall") -> profiler.summarise() of its samples
    profiles: dict[str, dict[str, dict]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class Bench:
    options: BenchOptions
    stack: Stack
    fakes: FakeUrls
    generator: str
    cpu: CpuMeter | None = None
    results: Results = field(default_factory=Results)
    # scenario key -> a repeat of its load (not recorded), run again under the profiler
    profile_loads: dict[str, Callable[[], object]] = field(default_factory=dict)

    def load(self, spec: LoadSpec, seconds: float | None = None) -> LoadResult:
        options = self.options
        return loadgen.run(
            self.generator,
            spec,
            options.connections,
            options.load_threads,
            options.duration if seconds is None else seconds,
            options.workdir,
        )

    def cpu_snapshot(self) -> dict[str, float]:
        return self.cpu.snapshot() if self.cpu is not None else {}

    def cpu_per_unit(self, before: dict[str, float], units: int) -> dict[str, float]:
        return cpu.per_unit_ms(before, self.cpu_snapshot(), units) if before else {}

    def measure(self, key: str, spec: LoadSpec, warmup: LoadSpec | None = None) -> LoadResult:
        """Warm up (not counted), then measure at the fixed concurrency and keep the result."""
        if self.options.warmup > 0:
            self.load(warmup or spec, self.options.warmup)
        before = self.cpu_snapshot()
        result = self.load(spec)
        result.cpu_ms = self.cpu_per_unit(before, result.requests)
        self.results.http[key] = result
        print(
            f"bench: {key:<22} {result.rps:9.1f} req/s  p50 {result.p50_ms or 0:8.2f} ms  "
            f"p99 {result.p99_ms or 0:8.2f} ms  non-2xx {result.non_2xx}"
        )
        return result
