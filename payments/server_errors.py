"""Gunicorn's own answers, in SPEC's error shape.

gunicorn refuses some requests before the application sees them: a malformed request line or
header (400), a request line over `limit_request_line` (414), too many or too large headers
(431), an unsupported transfer coding (501). It answers those with an HTML page of its own; SPEC
says every error is JSON and every response carries `X-Request-Id`. gunicorn has no setting for
that page, so the function that writes it is replaced, once, in the master (gunicorn.conf.py's
`on_starting`), before any worker is forked.
"""

from __future__ import annotations

import json

from gunicorn import util

from payments.errors import error_body
from payments.request_id import HEADER as REQUEST_ID_HEADER
from payments.request_id import new_request_id

# gunicorn's message may quote what the client sent (a request line, a header): kept short.
MAX_MESSAGE_LENGTH = 200


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn.util.write_error's signature and job, with a JSON body. The request could not be
    read, so its own X-Request-Id is unknown: the answer carries a new one."""
    message = (mesg or reason)[:MAX_MESSAGE_LENGTH]
    body = json.dumps(error_body(status_int, message)).encode("utf-8")
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"{REQUEST_ID_HEADER}: {new_request_id()}\r\n"
        "\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def install() -> None:
    """Make gunicorn write its own error answers as JSON (the workers' code calls
    `util.write_error` through the module, so replacing it there reaches every call)."""
    util.write_error = write_json_error
