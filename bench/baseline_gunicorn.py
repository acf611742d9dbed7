"""Gunicorn settings for the baseline: the service's gunicorn.conf.py, values only.

Its server hooks are left out because they set up the payments application (broker, metrics),
which the baseline does not have; workers, threads, worker class, timeouts and keep-alive (the
settings that decide throughput) are exactly the service's.
"""

import runpy
from pathlib import Path

_service = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))

globals().update(
    {
        name: value
        for name, value in _service.items()
        if not name.startswith("_") and isinstance(value, str | int | float | bool)
    }
)
