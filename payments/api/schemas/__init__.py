"""Marshmallow schemas of the HTTP API (they are also its OpenAPI documentation)."""
