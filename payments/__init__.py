"""The payments service: create_app builds the Flask application from one Settings object."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from payments import prepared
from payments.api.json_provider import FastJSONProvider
from payments.api.openapi import SWAGGER_UI_CONFIG, spec_options
from payments.config import MAX_BODY_BYTES, PROJECT_ROOT, Settings, load_settings
from payments.database import engine_options
from payments.errors import register_error_handlers
from payments.extensions import api as smorest_api
from payments.extensions import db, migrate, redis_store
from payments.logging_setup import configure_logging


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    configure_logging(settings.log_level)

    app = Flask(__name__, instance_path=str(settings.instance_path.resolve()))
    app.json = FastJSONProvider(app)
    app.config.update(_flask_config(settings))
    app.extensions["payments_settings"] = settings
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    if settings.db_prepared_statements:
        with app.app_context():
            prepared.enable(db.engine)
    migrate.init_app(
        app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True, compare_type=True
    )
    redis_store.init_app(app, settings.redis_url)
    smorest_api.init_app(app)
    _declare_security_schemes()
    register_error_handlers(app)

    from payments import logging_setup, messaging, metrics, request_id
    from payments.api import register_blueprints
    from payments.cli import register_commands

    request_id.init_app(app)
    logging_setup.init_request_log(app)
    metrics.init_app(app)
    messaging.configure_broker(settings)
    register_blueprints(app, smorest_api, settings)
    register_commands(app)
    return app


def _flask_config(settings: Settings) -> dict:
    return {
        "SQLALCHEMY_DATABASE_URI": settings.database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(
            settings.database_url, settings.db_pool_size, settings.db_max_overflow
        ),
        "MAX_CONTENT_LENGTH": MAX_BODY_BYTES,
        "API_TITLE": "Payments API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "/docs",
        # Swagger UI's assets are served by the service itself (no CDN, works offline).
        "OPENAPI_SWAGGER_UI_URL": "/docs/assets/",
        "OPENAPI_SWAGGER_UI_CONFIG": SWAGGER_UI_CONFIG,
        "API_SPEC_OPTIONS": spec_options(settings),
    }


def _declare_security_schemes() -> None:
    smorest_api.spec.components.security_scheme(
        "ApiKeyAuth", {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    )
