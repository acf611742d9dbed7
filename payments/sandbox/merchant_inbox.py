"""Sandbox merchant inbox: see payments/sandbox/__init__.py."""

from flask import Blueprint

blp = Blueprint("sandbox_merchant_inbox", __name__, url_prefix="/sandbox")
