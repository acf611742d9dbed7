"""The payment provider and the merchant, faked fast enough never to be the bottleneck.

Both live in one separate process (so they take no GIL from the bench) on asyncio: a minimal
HTTP/1.1 server with keep-alive, a few microseconds per request. The merchant records the wall
clock time each notification arrives; the bench compares it with the commit time in PostgreSQL
(same machine, same clock).

  provider  POST {url}/payment-links      -> 201 {"payment_url", "expires_at"}
  merchant  POST {url}/<anything>         -> 200, arrival recorded
            GET  {url}/_arrivals          -> [[arrival_unix_time, payment_id, webhook_id], ...]
            GET  {url}/_count             -> {"count": <arrivals so far>}
            POST {url}/_reset             -> forget the arrivals
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests

LINK_TTL = timedelta(days=1)


@dataclass(frozen=True)
class FakeUrls:
    provider: str
    merchant: str


class Fakes:
    """`with Fakes() as urls:` runs the provider and merchant in a child process."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._parent, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True)

    def __enter__(self) -> FakeUrls:
        self._process.start()
        if not self._parent.poll(30):
            raise RuntimeError("the fake provider/merchant process did not start")
        provider_port, merchant_port = self._parent.recv()
        return FakeUrls(
            provider=f"http://127.0.0.1:{provider_port}",
            merchant=f"http://127.0.0.1:{merchant_port}/merchant/webhook",
        )

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def __exit__(self, *exc) -> None:
        self._process.terminate()
        self._process.join(10)


def merchant_control(urls: FakeUrls, what: str):
    """Ask the merchant fake for `_arrivals`, `_count` or `_reset`."""
    base = urls.merchant.split("/merchant/", 1)[0]
    method = "POST" if what == "_reset" else "GET"
    response = requests.request(method, f"{base}/{what}", timeout=30)
    response.raise_for_status()
    return response.json()


def _serve(pipe) -> None:
    asyncio.run(_main(pipe))


async def _main(pipe) -> None:
    arrivals: list[list] = []
    provider = await asyncio.start_server(_connection(_provider_reply), "127.0.0.1", 0)
    merchant = await asyncio.start_server(
        _connection(lambda *request: _merchant_reply(arrivals, *request)), "127.0.0.1", 0
    )
    pipe.send((_port(provider), _port(merchant)))
    await asyncio.gather(provider.serve_forever(), merchant.serve_forever())


def _port(server: asyncio.Server) -> int:
    return server.sockets[0].getsockname()[1]


def _connection(reply):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, path, headers = _parse_head(head)
                length = int(headers.get("content-length", 0))
                body = await reader.readexactly(length) if length else b""
                status, payload = reply(method, path, headers, body)
                writer.write(_response(status, payload))
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    return handle


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return method, path, headers


def _response(status: int, payload) -> bytes:
    body = json.dumps(payload).encode()
    reason = {200: "OK", 201: "Created", 404: "Not Found"}.get(status, "Unknown")
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def _provider_reply(method: str, path: str, headers: dict, body: bytes):
    if method != "POST" or not path.rstrip("/").endswith("/payment-links"):
        return 404, {"error": "not found"}
    payment_id = json.loads(body or b"{}").get("payment_id")
    expires_at = (datetime.now(UTC) + LINK_TTL).isoformat()
    return 201, {"payment_url": f"https://pay.bench.invalid/{payment_id}", "expires_at": expires_at}


def _merchant_reply(arrivals: list, method: str, path: str, headers: dict, body: bytes):
    if path == "/_arrivals":
        return 200, arrivals
    if path == "/_count":
        return 200, {"count": len(arrivals)}
    if path == "/_reset":
        arrivals.clear()
        return 200, {"ok": True}
    if method != "POST":
        return 404, {"error": "not found"}
    arrived = time.time()
    try:
        payment_id = json.loads(body).get("payment_id")
    except ValueError:
        payment_id = None
    arrivals.append([arrived, payment_id, headers.get("webhook-id")])
    return 200, {"ok": True}
