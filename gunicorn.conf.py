"""Gunicorn settings for `gunicorn wsgi:app`; GUNICORN_* environment variables override them.

- gthread workers: a few processes (from the CPUs this container may use), each with a pool of
  threads; requests wait on the database and the provider, not on the CPU.
- No preload (GUNICORN_PRELOAD=true turns it on): each worker imports the app after the fork,
  so no database, broker or Redis connection, and no thread, is ever shared between processes,
  and a recycled worker loads the code afresh. The cost is a second or two of boot per worker
  and no copy-on-write sharing (~50 MB each). If preloaded, post_fork drops the inherited pool.
- SIGTERM: the master stops accepting, workers finish their in-flight requests for up to
  graceful_timeout seconds, then exit; the master exits 0. The container's stop grace period
  must be longer than graceful_timeout.
- Request metrics of all workers are aggregated through PROMETHEUS_MULTIPROC_DIR, prepared here.
- The settings are validated before any worker starts: a wrong configuration stops the master
  with one line.
- A request gunicorn itself refuses (malformed line or header, line over limit_request_line)
  gets a JSON error in SPEC's shape, not gunicorn's HTML page (payments/server_errors.py).
"""

import os
import shutil
import sys
import tempfile


def _env_int(name, default, minimum=0):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        sys.exit(f"gunicorn: {name} must be a whole number >= {minimum}, got {raw!r}")
    return int(raw)


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _available_cpus():
    """CPUs this process may use: the cgroup quota of a container when there is one."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        with open("/sys/fs/cgroup/cpu.max") as handle:
            quota, period = handle.read().split()
        if quota != "max":
            cpus = min(cpus, max(1, round(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus or 1)


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = "gthread"
workers = _env_int("GUNICORN_WORKERS", 2 * _available_cpus() + 1, minimum=1)
threads = _env_int("GUNICORN_THREADS", 4, minimum=1)
# A request that takes longer than this (the provider budget is 3 s) means a stuck worker.
timeout = _env_int("GUNICORN_TIMEOUT", 30, minimum=1)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 25, minimum=1)
# Behind a load balancer, keep this above the balancer's idle timeout so the balancer, not
# gunicorn, closes idle connections (otherwise it may send a request on a closing connection).
keepalive = _env_int("GUNICORN_KEEPALIVE", 5)
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", 0)
preload_app = _env_flag("GUNICORN_PRELOAD")

# The app writes one JSON line per request itself (it knows the route and the merchant), so
# gunicorn's access log stays off; its error log uses the same JSON format.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
logger_class = "payments.logging_setup.GunicornJsonLogger"

# Gunicorn's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl), which
# every gunicorn on the host would share; it is opt-in here.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]

_METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"
# Set while this file is read, before the master can import prometheus_client (with preload
# the app is imported before on_starting), which picks its mode from this variable. A reload
# (HUP) reads the file again and keeps the directory the workers already write to.
_CREATED_METRICS_DIR = None
if not os.environ.get(_METRICS_DIR):
    _CREATED_METRICS_DIR = tempfile.mkdtemp(prefix="payments-metrics-")
    os.environ[_METRICS_DIR] = _CREATED_METRICS_DIR


def on_starting(server):
    from payments import server_errors
    from payments.config import ConfigError, load_settings

    server_errors.install()  # in the master, so every worker forked from it has it

    try:
        load_settings()
    except ConfigError as error:
        if _CREATED_METRICS_DIR:
            shutil.rmtree(_CREATED_METRICS_DIR, ignore_errors=True)
        sys.exit(f"payments: configuration error: {error}")
    if _CREATED_METRICS_DIR is None:
        _empty_metrics_dir(os.environ[_METRICS_DIR])
    server.payments_own_metrics_dir = _CREATED_METRICS_DIR


def _empty_metrics_dir(directory):
    """A directory given by the operator: files left by an earlier run would add its counts to
    ours. Workers inherit the variable, so prometheus_client writes per-process files there."""
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.remove(os.path.join(directory, name))


def post_fork(server, worker):
    if server.cfg.preload_app and getattr(server.app, "callable", None) is not None:
        from payments.extensions import db

        app = server.app.callable
        with app.app_context():
            # The master's pool must not be used by the child; close=False leaves the parent's
            # connections alone (SQLAlchemy's recipe for forked processes).
            db.engine.dispose(close=False)


def post_worker_init(worker):
    """In the embedded default (no RABBITMQ_URL) each worker runs its own in-process
    dramatiq worker and scheduler; production runs them as separate processes."""
    from payments.messaging import broker_settings

    if not broker_settings().rabbitmq_url:
        from tasks import embedded

        embedded.start(worker.wsgi)


def child_exit(server, worker):
    # A dead worker's live gauges must stop counting; its counters and histograms stay summed.
    if os.environ.get(_METRICS_DIR):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, os.environ[_METRICS_DIR])


def on_exit(server):
    own = getattr(server, "payments_own_metrics_dir", None)
    if own:
        shutil.rmtree(own, ignore_errors=True)
