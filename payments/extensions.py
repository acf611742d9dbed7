"""Unbound singletons, bound to the app in create_app (the Flask extension pattern)."""

from __future__ import annotations

import redis
from flask import Flask
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy

from payments.api.schemas.errors import ApiErrorSchema
from payments.errors import handle_http_exception
from payments.models.base import Base


class PaymentsApi(Api):
    """flask-smorest's Api with SPEC's error shape instead of its own."""

    ERROR_SCHEMA = ApiErrorSchema  # what the OpenAPI document shows for 422 and other errors

    def handle_http_exception(self, error):
        return handle_http_exception(error)


class RedisStore:
    """The Redis client when REDIS_URL is set; None means "use the in-process equivalent"."""

    def __init__(self) -> None:
        self.client: redis.Redis | None = None

    def init_app(self, app: Flask, url: str | None) -> None:
        self.client = (
            redis.Redis.from_url(
                url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30
            )
            if url
            else None
        )
        app.extensions["payments_redis"] = self


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
api = PaymentsApi()
redis_store = RedisStore()
