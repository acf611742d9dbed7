"""Each test run gets its own PostgreSQL database, created and dropped here."""

from __future__ import annotations

import uuid

import psycopg2
from psycopg2 import sql

ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def new_database_name(prefix: str = "payments_test") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def create_database(name: str) -> str:
    """Create an empty database; returns its SQLAlchemy URL."""
    _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_database(name: str) -> None:
    _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _admin(statement: sql.Composable) -> None:
    connection = psycopg2.connect(ADMIN_DSN)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()
