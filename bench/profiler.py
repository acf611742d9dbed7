"""py-spy on the service's processes while a scenario's load runs again, summarised for the report.

`py-spy record --subprocesses --idle` on a gunicorn master (or dramatiq main) samples every
thread of every worker. Only the samples taken inside a request (gunicorn's handle_request) or a
message (dramatiq's process_message) are kept: they show where handling time goes, running or
waiting (py-spy's own idle detection is unreliable on this VM, and a wait on PostgreSQL or the
provider is exactly what a profile of a slow request must show). Each kept sample is attributed
to the innermost frame that belongs to a known library (the Python frame calling into a C
driver stands for the driver), and separately to the service's own functions on its stack.
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


def available() -> bool:
    return Path(PY_SPY).exists() or shutil.which("py-spy") is not None


def record(
    masters: dict[str, int], seconds: float, out_dir: Path, key: str, load: Callable[[], object]
) -> dict[str, Path]:
    """Profile each master's workers while `load` runs; returns the raw profile per master."""
    out_dir.mkdir(parents=True, exist_ok=True)
    slug = key.replace(" ", "_").replace("@", "")
    spies = {}
    for name, pid in masters.items():
        path = out_dir / f"{slug}-{name}.txt"
        command = [PY_SPY, "record", "--pid", str(pid), "--subprocesses", "--idle"]
        command += ["--duration", str(round(seconds)), "--rate", "100", "--format", "raw"]
        command += ["--output", str(path)]
        log = (out_dir / f"{slug}-{name}.log").open("wb")
        spies[name] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), path)
    time.sleep(1)  # let py-spy attach before the load starts
    load()
    profiles = {}
    for name, (spy, path) in spies.items():
        spy.wait(timeout=seconds + 60)
        if path.exists():
            profiles[name] = path
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
    lines = []
    for process, summary in summaries.items():
        total = summary["samples"] or 1
        busy = summary["samples"] / (summary["all_samples"] or 1)
        lines.append(
            f"**{key}: {process} workers**: {summary['samples']:,} samples inside a request or "
            f"message ({busy:.0%} of all thread samples; the rest is threads idle in their pool)\n"
        )
        lines.append("| where handling time went (running or waiting) | share |\n|---|---:|")
        lines += [f"| {label} | {count / total:.0%} |" for label, count in summary["categories"]]
        lines.append("\n| service function (inclusive) | share |\n|---|---:|")
        lines += [f"| `{name}` | {count / total:.0%} |" for name, count in summary["own"]]
        lines.append("\n| hottest leaf frames | share |\n|---|---:|")
        lines += [f"| `{name}` | {count / total:.0%} |" for name, count in summary["leaves"]]
        lines.append("")
    return "\n".join(lines)
