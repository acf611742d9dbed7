"""WSGI entry point: `gunicorn wsgi:app`, and `flask --app wsgi ...` for the CLI."""

import sys

from payments import create_app
from payments.config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    sys.exit(f"payments: configuration error: {error}")
