"""Load generation at a fixed concurrency: wrk (C, a Lua script per scenario) when it is on the
machine, else a closed loop of Python threads on keep-alive connections.

wrk is the choice: on 2 shared cores a Python generator burns the CPU the service needs and caps
the baseline, so ratios would flatter the service. `make bench` installs wrk from Debian when it
is missing and it runs as root; the Python fallback keeps the harness usable elsewhere, and the
report says which generator produced the figures.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench.stats import summarise

LUA_DIR = Path(__file__).resolve().parent / "lua"
# (method, path, headers, body) of one request; `n` counts the calling thread's requests.
PythonRequest = tuple[str, str, dict[str, str], bytes | None]
RequestMaker = Callable[[int, int], PythonRequest]


@dataclass
class LoadSpec:
    """One load: the Lua script and its args for wrk, the same requests for the Python loop."""

    name: str
    base_url: str
    script: str
    args: list[str]
    make_request: RequestMaker


@dataclass
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    statuses: dict[int, int] = field(default_factory=dict)
    socket_errors: int = 0
    # bench/cpu.py: milliseconds of CPU per request, by part of the machine (measure() fills it)
    cpu_ms: dict[str, float] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def non_2xx(self) -> int:
        return sum(count for code, count in self.statuses.items() if not 200 <= code < 300)

    @property
    def valid(self) -> bool:
        """At least 99% of the requests got a 2xx: the figures are those of the scenario, not
        of an error path."""
        failed = self.non_2xx + self.socket_errors
        return self.requests > 0 and failed <= 0.01 * (self.requests + self.socket_errors)


def ensure_wrk(preference: str) -> str:
    """The generator this run uses: 'wrk' or 'python'."""
    if preference == "python":
        return "python"
    if shutil.which("wrk") is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: wrk is missing; installing it from Debian (apt-get install -y wrk)")
        install = ["apt-get", "install", "-y", "-qq", "wrk"]
        if subprocess.run(install, check=False).returncode != 0:
            # A fresh machine may have no package lists yet.
            subprocess.run(["apt-get", "update", "-qq"], check=False)
            subprocess.run(install, check=False)
    if shutil.which("wrk"):
        return "wrk"
    if preference == "wrk":
        raise SystemExit("bench: BENCH_LOAD_GENERATOR=wrk but wrk is not installed")
    print("bench: wrk not available; falling back to the Python load generator")
    return "python"


def run(
    generator: str, spec: LoadSpec, connections: int, threads: int, seconds: float, workdir: Path
) -> LoadResult:
    if generator == "wrk":
        return _run_wrk(spec, connections, threads, seconds, workdir)
    return _run_python(spec, connections, seconds)


def _run_wrk(
    spec: LoadSpec, connections: int, threads: int, seconds: float, workdir: Path
) -> LoadResult:
    script = workdir / f"{spec.script}.lua"
    if not script.exists():
        common = (LUA_DIR / "common.lua").read_text()
        script.write_text(common + "\n" + (LUA_DIR / f"{spec.script}.lua").read_text())
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
    command += ["--timeout", "10s", "-s", str(script), spec.base_url, "--", *spec.args]
    output = subprocess.run(command, capture_output=True, text=True, check=False)
    line = next((x for x in output.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result for {spec.name}:\n{output.stdout}{output.stderr}")
    data = json.loads(line.removeprefix("WRK_JSON "))
    statuses: Counter[int] = Counter()
    for per_thread in data["statuses"]:
        statuses.update({int(code): count for code, count in per_thread.items()})
    latency = {key: value / 1000 for key, value in data["latency_us"].items()}
    return LoadResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=latency["p50"],
        p90_ms=latency["p90"],
        p99_ms=latency["p99"],
        max_ms=latency["max"],
        statuses=dict(statuses),
        socket_errors=data["socket_errors"],
    )


def _run_python(spec: LoadSpec, connections: int, seconds: float) -> LoadResult:
    deadline = time.monotonic() + seconds
    counters = [0] * connections

    def next_request(worker: int) -> PythonRequest | None:
        if time.monotonic() >= deadline:
            return None
        counters[worker] += 1
        return spec.make_request(worker, counters[worker])

    return _drive(spec.base_url, next_request, connections)


def send_all(base_url: str, requests: list[PythonRequest], connections: int) -> LoadResult:
    """Send each request once, `connections` at a time (the pipeline's provider reports)."""
    lock = threading.Lock()
    pending = iter(requests)

    def next_request(worker: int) -> PythonRequest | None:
        with lock:
            return next(pending, None)

    return _drive(base_url, next_request, connections)


def send_paced(
    base_url: str, requests: list[PythonRequest], per_second: float, connections: int
) -> LoadResult:
    """Send each request once, request i at `i / per_second` seconds after the start (an open
    loop: a slow answer does not push the next request back while a connection is free). When
    all `connections` are waiting for answers, requests go out late and the result's rate shows
    it."""
    lock = threading.Lock()
    pending = enumerate(requests)
    start: list[float] = []

    def next_request(worker: int) -> PythonRequest | None:
        with lock:
            if not start:
                start.append(time.perf_counter())
            index, request = next(pending, (None, None))
        if request is None:
            return None
        time.sleep(max(0.0, start[0] + index / per_second - time.perf_counter()))
        return request

    return _drive(base_url, next_request, connections)


def _drive(
    base_url: str, next_request: Callable[[int], PythonRequest | None], connections: int
) -> LoadResult:
    address = urlsplit(base_url)
    latencies: list[list[float]] = [[] for _ in range(connections)]
    statuses: list[Counter[int]] = [Counter() for _ in range(connections)]
    errors = [0] * connections

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        while (request := next_request(index)) is not None:
            method, path, headers, body = request
            started = time.perf_counter()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                connection.close()
                continue
            latencies[index].append((time.perf_counter() - started) * 1000)
            statuses[index][response.status] += 1
        connection.close()

    started = time.perf_counter()
    workers = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - started
    summary = summarise(value for per_worker in latencies for value in per_worker)
    return LoadResult(
        requests=summary.count,
        seconds=elapsed,
        p50_ms=summary.p50,
        p90_ms=summary.p90,
        p99_ms=summary.p99,
        max_ms=summary.max,
        statuses=dict(sum(statuses, Counter())),
        socket_errors=sum(errors),
    )
