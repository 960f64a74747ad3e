"""A real HTTP endpoint on loopback for outbound tests (webhooks, chat bots, SMS gateways): it
answers the queued `answers` in turn (then `default`) and keeps every request."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.services import free_port


class Receiver:
    def __init__(self, statuses: list[int] = (), *, answers: list[tuple[int, Any]] = (),
                 default: tuple[int, Any] = (200, b"ok"), delay_s: float = 0.0):
        self.answers = [(s, b"ok" if s < 300 else b"try later") for s in statuses] + list(answers)
        self.default = default
        self.delay_s = delay_s  # a slow platform
        self.requests: list[tuple[dict, bytes]] = []
        self.paths: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver.lock:
                    receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    receiver.paths.append(self.path)
                    code, payload = receiver.answers.pop(0) if receiver.answers else receiver.default
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json" if not isinstance(payload, bytes) else "text/plain")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_POST = do_GET = _answer

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def json_bodies(self) -> list[Any]:
        return [json.loads(b) for _, b in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
