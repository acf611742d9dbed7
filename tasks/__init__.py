"""Dramatiq workers: `dramatiq tasks` imports this package.

Started by the dramatiq CLI, this process is a worker: it builds the Flask app (which configures
the broker from the settings) and binds the actors to it. Imported from inside a running app
(the embedded default), the app already exists and tasks.embedded binds it instead.
"""

from payments import messaging

if not messaging.is_configured():
    import os
    import sys

    from payments.config import ConfigError, load_settings

    try:
        from payments import create_app

        settings = load_settings()
        # Only the `dramatiq` CLI runs dramatiq's exporter (its own port, dramatiq_prom_port).
        # prometheus_client picks multiprocess mode when first imported, so before create_app.
        worker_metrics = bool(settings.worker_metrics_port) and "dramatiq.cli" in sys.modules
        if worker_metrics:
            from dramatiq.middleware.prometheus import DB_PATH, Prometheus

            os.environ["PROMETHEUS_MULTIPROC_DIR"] = DB_PATH
        app = create_app(settings)
    except ConfigError as error:
        raise SystemExit(f"payments: configuration error: {error}") from None

    if worker_metrics:
        import dramatiq

        dramatiq.get_broker().add_middleware(Prometheus())

    from tasks.worker import bind_app

    bind_app(app)
