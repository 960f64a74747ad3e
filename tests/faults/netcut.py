"""A loopback TCP proxy that can cut the line like a firewall, for one client at a time.

`cut()` makes the link silently drop everything (no FIN, no RST: bytes are read and
discarded, new connections are accepted and ignored), so the client notices only through
its MQTT keepalive, exactly as with a firewall rule dropping packets. `restore()` closes
whatever was opened during or before the cut (as a NAT table forgetting its entries) and
forwards again. The broker behind it and every other client are untouched.
"""
from __future__ import annotations

import selectors
import socket
import threading

from tests.support.services import free_port


class NetCut:
    def __init__(self, target_port: int, host: str = "127.0.0.1"):
        self.target = (host, target_port)
        self.port = free_port()
        self._listener = socket.create_server((host, self.port))
        self._listener.setblocking(False)
        self._cut = False
        self._pairs: list[tuple[socket.socket, socket.socket | None]] = []
        self._lock = threading.Lock()
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._listener, selectors.EVENT_READ, None)
        self._closed = False
        self._restore_requests: list[threading.Event] = []
        self._thread = threading.Thread(target=self._loop, name="netcut", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def cut(self) -> None:
        self._cut = True

    def restore(self, timeout: float = 5.0) -> None:
        """Forget every connection (the client sees a reset) and forward again."""
        done = threading.Event()
        self._restore_requests.append(done)
        assert done.wait(timeout), "netcut loop did not answer"

    def close(self) -> None:
        self.restore()
        self._closed = True
        self._thread.join(5)
        self._listener.close()

    def _do_restore(self) -> None:
        # Runs in the loop thread: the selector is only ever touched from there.
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            for s in (a, b):
                if s is not None:
                    self._drop(s)
        self._cut = False

    def _drop(self, s: socket.socket) -> None:
        try:
            self._sel.unregister(s)
        except (KeyError, ValueError):
            pass
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
        except OSError:
            pass
        s.close()

    def _loop(self) -> None:
        while not self._closed:
            while self._restore_requests:
                self._do_restore()
                self._restore_requests.pop(0).set()
            for key, _ in self._sel.select(0.1):
                if key.fileobj is self._listener:
                    self._accept()
                    continue
                src, dst = key.fileobj, key.data
                try:
                    data = src.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self._close_pair(src, dst)
                    continue
                if self._cut or dst is None:
                    continue  # swallowed: the firewall drops it
                try:
                    dst.sendall(data)
                except OSError:
                    self._close_pair(src, dst)

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except OSError:
            return
        if self._cut:
            # Accepted by the kernel, never answered: the client's CONNECT times out.
            with self._lock:
                self._pairs.append((client, None))
            self._sel.register(client, selectors.EVENT_READ, None)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        with self._lock:
            self._pairs.append((client, upstream))
        self._sel.register(client, selectors.EVENT_READ, upstream)
        self._sel.register(upstream, selectors.EVENT_READ, client)

    def _close_pair(self, a: socket.socket, b: socket.socket | None) -> None:
        with self._lock:
            self._pairs = [p for p in self._pairs if p[0] is not a and p[0] is not b]
        for s in (a, b):
            if s is not None:
                try:
                    self._sel.unregister(s)
                except (KeyError, ValueError):
                    pass
                s.close()
