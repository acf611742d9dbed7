# One image for every process of the service; the command picks the process:
#   API (default)  gunicorn wsgi:app              (settings in gunicorn.conf.py, GUNICORN_* env)
#   worker         dramatiq tasks [-p N] [-t N]   (dramatiq's metrics on :9191)
#   scheduler      python -m tasks.scheduler
#   migrate, seed  flask --app wsgi db upgrade && flask --app wsgi seed
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies in their own layer: rebuilt only when requirements.txt changes, not on every
# code change. Every package is pinned, transitive ones included; all ship as wheels
# (psycopg2-binary brings its own libpq), so no compiler is needed.
COPY requirements.txt .
RUN pip install -r requirements.txt

# The code belongs to root and is read-only to the service; only instance/ (the demo credentials
# file written by `seed`) is the service's to write.
COPY . .
RUN groupadd --system --gid 10001 payments \
    && useradd --system --uid 10001 --gid payments --no-create-home --shell /usr/sbin/nologin payments \
    && mkdir -p /app/instance \
    && chown payments:payments /app/instance

ENV INSTANCE_PATH=/app/instance \
    GUNICORN_BIND=0.0.0.0:8000 \
    dramatiq_prom_port=9191

USER 10001:10001
EXPOSE 8000 9191

# Liveness of the API (the default command); worker and scheduler containers replace or
# disable it (see docker-compose.yml). No curl in a slim image: Python asks.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('GUNICORN_BIND', ':8000').rsplit(':', 1)[-1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/api/v1/payments/ping', timeout=4)"]

# Exec form: gunicorn is PID 1's direct child (with `init: true`) or PID 1 itself, and gets
# the SIGTERM of `docker stop` directly.
CMD ["gunicorn", "wsgi:app"]
