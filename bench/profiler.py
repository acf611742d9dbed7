"""py-spy on the service's processes while a scenario's load runs again, summarised for the report.

Two samplers run at once on a gunicorn master (or dramatiq main) and all its workers
(`--subprocesses --nonblocking`, so neither pauses the processes):
- wall: `--idle`, every thread. Only the samples taken inside a request (gunicorn's
  handle_request) or a message (dramatiq's process_message) are kept: where handling time goes,
  running or waiting (py-spy's own idle detection is unreliable on this VM, and a wait on
  PostgreSQL or the provider is exactly what a slow request's profile must show).
- cpu: `--gil`, only the thread holding the GIL: where the Python CPU goes.
Each kept sample is attributed to the innermost frame that belongs to a known library (the
Python frame calling into a C driver stands for the driver), and separately to the service's own
functions on its stack.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

PY_SPY = str(Path(sys.executable).parent / "py-spy")
CATEGORIES = (
    ("database driver and ORM (SQLAlchemy, psycopg2)", ("sqlalchemy/", "psycopg2/")),
    ("schemas (marshmallow, webargs, apispec, flask-smorest)", ("marshmallow/", "webargs/")),
    ("schemas (marshmallow, webargs, apispec, flask-smorest)", ("apispec/", "flask_smorest/")),
    ("Flask / Werkzeug", ("flask/", "werkzeug/", "jinja2/")),
    ("gunicorn", ("gunicorn/",)),
    ("outbound HTTP (requests, urllib3, http.client)", ("requests/", "urllib3/", "http/client")),
    ("broker (dramatiq, pika)", ("dramatiq/", "pika/")),
    ("Redis client", ("redis/",)),
    ("logging", ("logging/", "pythonjsonlogger/")),
    ("metrics (prometheus_client)", ("prometheus_client/",)),
    ("retries (tenacity)", ("tenacity/",)),
    ("signing (hmac, standardwebhooks)", ("standardwebhooks/", "hmac.py")),
    ("settings / validation (pydantic)", ("pydantic/", "pydantic_settings/")),
    ("JSON", ("json/",)),
    ("service code (payments/, tasks/)", ("payments/", "tasks/", "wsgi.py")),
)
OWN_CODE = ("payments/", "tasks/")
# A frame that proves the thread is handling work, not idling in its pool.
WORK_MARKERS = ("handle_request (gunicorn/", "process_message (dramatiq/")
MODES = {
    "wall": ("--idle", "where handling time went (running or waiting)"),
    "cpu": ("--gil", "where the CPU went (the thread holding the GIL)"),
}


def available() -> bool:
    return Path(PY_SPY).exists() or shutil.which("py-spy") is not None


def record(
    masters: dict[str, int], seconds: float, out_dir: Path, key: str, load: Callable[[], object]
) -> dict[tuple[str, str], Path]:
    """Profile each master's workers while `load` runs: (master, mode) -> raw profile."""
    out_dir.mkdir(parents=True, exist_ok=True)
    slug = key.replace(" ", "_").replace("@", "")
    spies = {}
    for name, pid in masters.items():
        for mode, (flag, _title) in MODES.items():
            path = out_dir / f"{slug}-{name}-{mode}.txt"
            command = [PY_SPY, "record", "--pid", str(pid), "--subprocesses", "--nonblocking"]
            command += [flag, "--duration", str(round(seconds)), "--rate", "100"]
            command += ["--format", "raw", "--output", str(path)]
            log = (out_dir / f"{slug}-{name}-{mode}.log").open("wb")
            spy = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            spies[name, mode] = (spy, path)
    time.sleep(1)  # let py-spy attach before the load starts
    load()
    profiles = {}
    for name_mode, (spy, path) in spies.items():
        spy.wait(timeout=seconds + 60)
        if path.exists():
            profiles[name_mode] = path
    return profiles


def parse(raw: str) -> Counter[tuple[str, ...]]:
    """py-spy's raw format: `frame;frame;... count` per line, outermost frame first."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            # --subprocesses puts `process <pid>:"<command>"` frames first; not code.
            frames = tuple(f for f in stack.split(";") if not f.startswith("process "))
            if frames:
                stacks[frames] += int(count)
    return stacks


def _file_of(frame: str) -> str:
    # "function (path/file.py:123)" -> "path/file.py"
    inside = frame.rpartition(" (")[2].rstrip(")")
    return inside.rpartition(":")[0] or inside


def _function_of(frame: str) -> str:
    name, _, location = frame.rpartition(" (")
    return f"{name} ({location.rstrip(')').rpartition(':')[0]})" if name else frame


def category(stack: tuple[str, ...]) -> str:
    for frame in reversed(stack):
        path = _file_of(frame)
        for label, prefixes in CATEGORIES:
            if any(prefix in path for prefix in prefixes):
                return label
    return "other (interpreter, stdlib)"


def handling(stack: tuple[str, ...]) -> bool:
    # py-spy names methods Class.method: ThreadWorker.handle_request (gunicorn/...).
    return any(marker in frame for frame in stack for marker in WORK_MARKERS)


def summarise(stacks: Counter[tuple[str, ...]], top: int = 8) -> dict:
    all_samples = sum(stacks.values())
    working = Counter({stack: count for stack, count in stacks.items() if handling(stack)})
    total = sum(working.values())
    by_category: Counter[str] = Counter()
    own: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for stack, count in working.items():
        by_category[category(stack)] += count
        leaves[_function_of(stack[-1])] += count
        # Inclusive: each of our functions once per sample, however deep it recurses.
        for function in {_function_of(f) for f in stack if _file_of(f).startswith(OWN_CODE)}:
            own[function] += count
    return {
        "all_samples": all_samples,
        "samples": total,
        "categories": by_category.most_common(),
        "own": own.most_common(top),
        "leaves": leaves.most_common(top),
    }


def markdown(key: str, summaries: dict[str, dict]) -> str:
    """`summaries`: "process/mode" -> summarise(); profiles without a sample are left out."""
    lines = []
    for process_mode, summary in summaries.items():
        if not summary["samples"]:
            continue
        process, mode = process_mode.split("/")
        total = summary["samples"]
        title = MODES[mode][1]
        if mode == "wall":
            busy = summary["samples"] / (summary["all_samples"] or 1)
            lines.append(
                f"**{key}: {process} workers, wall time**: {summary['samples']:,} samples inside "
                f"a request or message ({busy:.0%} of all thread samples; the rest is threads "
                "idle in their pool)\n"
            )
        else:
            lines.append(
                f"**{key}: {process} workers, CPU**: {summary['samples']:,} samples of the "
                "thread holding the GIL inside a request or message\n"
            )
        for heading, rows, quote in (
            (title, summary["categories"], ""),
            ("service function (inclusive)", summary["own"], "`"),
            ("hottest leaf frames", summary["leaves"], "`"),
        ):
            lines.append(f"| {heading} | share |\n|---|---:|")
            # Rows under half a percent are noise at these sample counts.
            lines += [
                f"| {quote}{name}{quote} | {count / total:.0%} |"
                for name, count in rows
                if count / total >= 0.005
            ]
            lines.append("")
    return "\n".join(lines)
