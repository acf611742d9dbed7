"""The Flask app served over real HTTP on loopback, in a thread: for flows where the service
calls itself (the sandbox provider reporting to the webhook, the sandbox merchant inbox)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from flask import Flask
from werkzeug.serving import make_server

from tests.support.processes import free_port


def app_at_free_port(settings, **updates) -> tuple[Flask, int]:
    """A fresh app whose SERVICE_URL is a free loopback port (not served yet)."""
    from payments import create_app

    port = free_port()
    app = create_app(
        settings.model_copy(update={"service_url": f"http://127.0.0.1:{port}", **updates})
    )
    app.config["TESTING"] = True
    return app, port


@contextlib.contextmanager
def serving(app: Flask, port: int) -> Iterator[str]:
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
