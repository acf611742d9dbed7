"""`make bench` (`python -m bench`): start the stack, run the scenarios, write the report.

Options come from BENCH_* environment variables (bench/options.py); BENCH_QUICK=1 is a smoke run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import traceback
from contextlib import ExitStack
from datetime import UTC, datetime

from bench import (
    http_scenarios,
    loadgen,
    pipeline,
    plot,
    profiler,
    report,
    results_io,
    targets,
)
from bench.context import Bench, Results
from bench.cpu import CpuMeter
from bench.fakes import Fakes
from bench.memory import PeakMemory, worker_pids
from bench.options import PROJECT_ROOT, BenchOptions, from_env
from bench.stack import start_stack

SCENARIOS = {
    "baseline": http_scenarios.baseline,
    "create": http_scenarios.create,
    "reads": http_scenarios.reads,
    "pipeline": pipeline.pipeline,
    "sweep": pipeline.sweep,
}


def main() -> None:
    options = from_env()
    if options.source is not None:
        results, conditions = results_io.load(options.source)
        print(f"bench: writing the report of {options.source} again, measuring nothing")
    else:
        results, conditions = _measure(options)
    evaluated = targets.evaluate(results)
    options.output.parent.mkdir(parents=True, exist_ok=True)
    plot_path = options.output.with_suffix(".png")
    plot.draw(results, report.labels(results), plot_path)
    report.write(options.output, results, evaluated, conditions, plot_path.name)
    _print_verdicts(evaluated)
    print(f"bench: report {options.output}, plot {plot_path}")


def _measure(options: BenchOptions) -> tuple[Results, list[str]]:
    (options.workdir / "logs").mkdir(parents=True, exist_ok=True)
    started, load_before = datetime.now(UTC), os.getloadavg()
    if not options.quick and load_before[0] >= 1:
        print(f"bench: load average is {load_before[0]:.2f}; the figures will be noisy")
    generator = loadgen.ensure_wrk(options.load_generator)
    print(f"bench: run {options.run_id}, work files in {options.workdir}")
    saved = options.workdir / "results.json"
    with ExitStack() as cleanup:
        fake_processes = Fakes()
        fakes = cleanup.enter_context(fake_processes)
        stack = start_stack(options, fakes, cleanup)
        meter = CpuMeter(stack.processes, fake_processes.pid)
        bench = Bench(options, stack, fakes, generator, cpu=meter)
        masters = {name: stack.processes[name].pid for name in ("gunicorn", "dramatiq")}
        shape = {name: len(worker_pids(pid)) for name, pid in masters.items()}
        with PeakMemory(masters) as memory:
            _run_scenarios(bench)
        bench.results.memory_mb = dict(memory.peaks_mb)
        conditions = _conditions(options, generator, shape, (started, load_before), stack.processes)
        results_io.save(saved, bench.results, conditions)
        if options.profile:
            _profile_missed(bench, targets.evaluate(bench.results), masters)
            results_io.save(saved, bench.results, conditions)
    print(f"bench: measurements saved in {saved}")
    return bench.results, conditions


def _run_scenarios(bench: Bench) -> None:
    for name in bench.options.scenarios:
        if name not in SCENARIOS:
            continue  # "memory" is sampled all along
        if name == "sweep" and "scheduler" not in bench.stack.processes:
            bench.results.notes.append("sweep: tasks/scheduler.py does not exist yet; skipped.")
            continue
        print(f"bench: --- {name} ---")
        try:
            SCENARIOS[name](bench)
        except Exception as error:  # one broken scenario must not lose the others' figures
            traceback.print_exc()
            bench.results.notes.append(f"{name}: failed with {type(error).__name__}: {error}")


def _profile_missed(bench: Bench, evaluated: list, masters: dict[str, int]) -> None:
    if not profiler.available():
        bench.results.notes.append("py-spy is not installed; no profiles.")
        return
    missed = {t.scenario for t in evaluated if t.met is False and t.scenario}
    for key in sorted(missed & set(bench.profile_loads)):
        print(f"bench: profiling {key} ({bench.options.profile_seconds:.0f} s) ...")
        spied = {"gunicorn": masters["gunicorn"]}
        if key == "pipeline":  # the webhook in gunicorn, the deliveries in dramatiq
            spied = masters
        elif key == "sweep":  # gunicorn takes no part in it
            spied = {"dramatiq": masters["dramatiq"]}
        raw = profiler.record(
            spied,
            bench.options.profile_seconds,
            bench.options.workdir / "profiles",
            key,
            bench.profile_loads[key],
        )
        bench.results.profiles[key] = {
            f"{name}/{mode}": profiler.summarise(profiler.parse(path.read_text()))
            for (name, mode), path in raw.items()
        }


def _conditions(
    options: BenchOptions, generator: str, shape: dict, start: tuple, processes: dict
) -> list[str]:
    started, load_before = start
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = (
        " (with uncommitted changes)"
        if _git("status", "--porcelain", "--untracked-files=no")
        else ""
    )
    env = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("BENCH_"))
    kind = (
        "**quick smoke run (BENCH_QUICK=1): short measurements and small data sets; the figures "
        "prove the harness works and are not results**"
        if options.quick
        else "full run"
    )
    load_after = os.getloadavg()
    busy = load_before[0] >= 1
    quietness = (
        "**the machine was busy with other work: figures are noisy; the ratios to the baseline, "
        "measured in the same conditions, are the steadier figures**"
        if busy
        else "the machine was otherwise quiet"
    )
    return [
        f"{started:%Y-%m-%d %H:%M} UTC, commit `{commit}`{dirty}; {kind}.",
        f"Command: `{(env + ' ') if env else ''}make bench`.",
        f"Machine: {os.cpu_count()} cores shared by the load generator, the service, PostgreSQL, "
        f"RabbitMQ and Redis; load average {load_before[0]:.2f} / {load_before[1]:.2f} / "
        f"{load_before[2]:.2f} (1/5/15 min) before the run ({load_after[0]:.2f} at its end, the "
        f"bench's own load included): {quietness}.",
        f"Load generator: {_generator_version(generator)}, {options.connections} connections"
        + (f" on {options.load_threads} threads" if generator == "wrk" else "")
        + f", {options.duration:g} s per measurement after a {options.warmup:g} s warm-up.",
        f"Service: `gunicorn wsgi:app` per gunicorn.conf.py ({shape.get('gunicorn', '?')} "
        f"workers), `dramatiq tasks` ({shape.get('dramatiq', '?')} worker processes), "
        + ("`python -m tasks.scheduler`" if "scheduler" in processes else "no scheduler")
        + f"; LOG_LEVEL={os.environ.get('BENCH_LOG_LEVEL', 'INFO')}; fake provider and "
        "merchant on loopback (asyncio, separate process).",
        "Baseline: bench/baseline_app.py (Flask, JSON hello) under the same gunicorn settings, "
        "measured in the same run; ratios are to it.",
    ]


def _git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True)
    return result.stdout.strip()


def _generator_version(generator: str) -> str:
    if generator != "wrk":
        return "Python threads (http.client keep-alive; wrk was not available)"
    result = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    first = (result.stdout or result.stderr).strip().splitlines()
    return f"`{first[0].split(' [')[0]}`" if first else "wrk"


def _print_verdicts(evaluated: list) -> None:
    for target in evaluated:
        figure = "-" if target.figure is None else f"{target.figure:.3g}{target.unit}"
        print(f"bench: {target.verdict:<12} {target.name}: {figure} ({target.rule})")


if __name__ == "__main__":
    started = time.monotonic()
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("bench: interrupted")
    print(f"bench: done in {time.monotonic() - started:.0f} s")
