"""Dramatiq workers: `dramatiq tasks` imports this package.

Started by the dramatiq CLI, this process is a worker: it builds the Flask app (which configures
the broker from the settings) and binds the actors to it. Imported from inside a running app
(the embedded default), the app already exists and tasks.embedded binds it instead.
"""

from payments import messaging

if not messaging.is_configured():
    from payments.config import ConfigError

    try:
        from payments import create_app

        app = create_app()
    except ConfigError as error:
        raise SystemExit(f"payments: configuration error: {error}") from None

    from tasks.worker import bind_app

    bind_app(app)
