"""A TCP proxy on loopback that a test puts between a service process and one of its
dependencies (PostgreSQL, RabbitMQ, Redis, the provider, a merchant) to inject network faults:

- `cut()`: every open connection is reset and new ones are refused (accepted, then reset at
  once), as when the dependency dies or the network drops;
- `hang()`: connections are accepted and bytes are held, never forwarded, as with a stalled
  network or a frozen peer;
- `delay(seconds)`: every chunk is forwarded after `seconds`;
- `restore()`: back to plain forwarding.

The listening port stays the same for the proxy's whole life, so the service's URLs stay
valid across an outage. Threads: one accepts; each connection has one per direction.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

_CHUNK = 65536


class TcpProxy:
    """`with TcpProxy(port_of_dependency) as proxy:` then point the service at `proxy.port`."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._refusing = False
        self._flowing = threading.Event()
        self._flowing.set()
        self._delay = 0.0
        self._closed = False
        self.accepted = 0
        self.refused = 0
        self._thread = threading.Thread(target=self._accept_loop, daemon=True, name="tcp-proxy")

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> TcpProxy:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closed = True
        self._flowing.set()
        with contextlib.suppress(OSError):
            # Unblocks accept(): shutdown on a listening socket makes accept() fail at once.
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._reset_all()
        self._thread.join(timeout=5)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # --- faults ---------------------------------------------------------------------------

    def cut(self) -> None:
        """Reset every open connection and refuse new ones until `restore()`."""
        with self._lock:
            self._refusing = True
        self._flowing.set()  # held bytes are dropped with their connections
        self._reset_all()

    def hang(self) -> None:
        """Hold every byte from now on (existing and new connections) until `restore()`."""
        self._flowing.clear()

    def delay(self, seconds: float) -> None:
        self._delay = seconds

    def restore(self) -> None:
        with self._lock:
            self._refusing = False
        self._delay = 0.0
        self._flowing.set()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._sockets) // 2

    # --- plumbing -------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                refusing = self._refusing
            if refusing:
                self.refused += 1
                _reset(client)
                continue
            self.accepted += 1
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _reset(client)  # the dependency itself is down: the client sees it as such
            return
        upstream.settimeout(None)
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            if self._refusing or self._closed:
                _reset(client)
                _reset(upstream)
                return
            self._sockets.update((client, upstream))
        done = threading.Event()
        threading.Thread(target=self._pump, args=(upstream, client, done), daemon=True).start()
        self._pump(client, upstream, done)

    def _pump(self, source: socket.socket, sink: socket.socket, done: threading.Event) -> None:
        """Copy one direction; the second direction to finish closes both sockets."""
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    with contextlib.suppress(OSError):
                        sink.shutdown(socket.SHUT_WR)
                    break
                self._hold()
                if self._delay:
                    time.sleep(self._delay)
                sink.sendall(data)
        except OSError:
            # One side failed: the other must see it too, as it would without the proxy.
            for sock in (source, sink):
                _reset(sock)
        finally:
            if done.is_set():
                self._forget(source, sink)
            else:
                done.set()

    def _hold(self) -> None:
        while not self._flowing.wait(timeout=0.2):
            if self._closed:
                return

    def _forget(self, *sockets: socket.socket) -> None:
        with self._lock:
            for sock in sockets:
                self._sockets.discard(sock)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def _reset_all(self) -> None:
        with self._lock:
            sockets = list(self._sockets)
            self._sockets.clear()
        for sock in sockets:
            _reset(sock)


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a crashed peer or a dropped link looks to the other side."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
