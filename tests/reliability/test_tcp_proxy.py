"""The fault-injecting TCP proxy itself, against a loopback echo server."""

from __future__ import annotations

import socket
import threading
import time

import psycopg2
import pytest

from tests.support.tcp_proxy import TcpProxy


@pytest.fixture
def echo_port():
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    stop.set()
    server.close()


@pytest.fixture
def proxy(echo_port):
    with TcpProxy(echo_port) as running:
        yield running


def _connect(port: int, timeout: float = 2) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def _roundtrip(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
    return received


def _is_dead(sock: socket.socket) -> bool:
    try:
        sock.sendall(b"x")
        return sock.recv(10) == b""
    except OSError:
        return True


def _refused(port: int) -> bool:
    """True when a new connection fails at connect or at its first exchange."""
    try:
        sock = _connect(port)
    except OSError:
        return True
    with sock:
        return _is_dead(sock)


def test_forwards_both_ways_including_large_payloads(proxy):
    with _connect(proxy.port) as sock:
        assert _roundtrip(sock, b"hello") == b"hello"
        big = bytes(range(256)) * 2000
        assert _roundtrip(sock, big) == big
    assert proxy.accepted == 1


def test_cut_resets_open_connections_and_refuses_new_ones(proxy):
    sock = _connect(proxy.port)
    assert _roundtrip(sock, b"before") == b"before"
    proxy.cut()
    assert _is_dead(sock)
    sock.close()
    assert _refused(proxy.port)
    assert proxy.refused >= 1
    proxy.restore()
    with _connect(proxy.port) as again:
        assert _roundtrip(again, b"after") == b"after"


def test_hang_holds_bytes_until_restored(proxy):
    with _connect(proxy.port, timeout=0.5) as sock:
        proxy.hang()
        sock.sendall(b"held")
        with pytest.raises(TimeoutError):
            sock.recv(10)
        proxy.restore()
        sock.settimeout(2)
        assert sock.recv(10) == b"held"


def test_delay_slows_every_chunk(proxy):
    proxy.delay(0.3)
    with _connect(proxy.port) as sock:
        started = time.monotonic()
        assert _roundtrip(sock, b"slow") == b"slow"
        # one delay per direction
        assert time.monotonic() - started >= 0.55
    proxy.restore()


def test_target_down_looks_down_through_the_proxy():
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        dead_port = placeholder.getsockname()[1]
    with TcpProxy(dead_port) as proxy:
        assert _refused(proxy.port)


def test_postgresql_through_a_cut_and_back(database_url):
    """The real use: a psycopg2 session dies with the cut and a new one works after restore."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    with TcpProxy(url.port or 5432) as proxy:
        dsn = f"host=127.0.0.1 port={proxy.port} user=postgres dbname={url.database}"
        connection = psycopg2.connect(dsn, connect_timeout=3)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        proxy.cut()
        with pytest.raises(psycopg2.OperationalError), connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        with pytest.raises(psycopg2.OperationalError):
            psycopg2.connect(dsn, connect_timeout=3)
        proxy.restore()
        again = psycopg2.connect(dsn, connect_timeout=3)
        with again.cursor() as cursor:
            cursor.execute("SELECT 41 + 1")
            assert cursor.fetchone() == (42,)
        again.close()
