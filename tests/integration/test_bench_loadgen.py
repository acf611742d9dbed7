"""The bench's paced sender (bench/loadgen.send_paced), against a real HTTP server on loopback:
request i leaves no earlier than i / rate seconds after the first, each exactly once."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import loadgen


@pytest.fixture
def recorder():
    arrivals: list[tuple[float, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            arrivals.append((time.perf_counter(), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", arrivals
    server.shutdown()
    server.server_close()


def test_paced_requests_leave_on_schedule_each_once(recorder):
    url, arrivals = recorder
    requests = [("POST", "/r", {}, str(i).encode()) for i in range(12)]

    result = loadgen.send_paced(url, requests, per_second=40, connections=4)

    assert result.statuses == {200: 12}
    assert sorted(int(body) for _, body in arrivals) == list(range(12))
    first = min(at for at, _ in arrivals)
    for at, body in arrivals:
        assert at - first >= int(body) / 40 - 0.005  # never ahead of its slot
    assert result.seconds >= 11 / 40 - 0.005
