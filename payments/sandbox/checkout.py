"""Sandbox checkout: see payments/sandbox/__init__.py."""

from flask import Blueprint

blp = Blueprint("sandbox_checkout", __name__, url_prefix="/sandbox")
