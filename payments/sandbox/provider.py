"""Sandbox provider: see payments/sandbox/__init__.py."""

from flask import Blueprint

blp = Blueprint("sandbox_provider", __name__, url_prefix="/sandbox")
