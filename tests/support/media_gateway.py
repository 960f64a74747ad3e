"""A real gateway (uvicorn on a free port, PostgreSQL) for the media tests."""
from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import uvicorn

from gateway.api.auth import issue_token
from gateway.app import create_app
from gateway.config import Settings
from gateway.db import Database
from gateway.db.grids import import_grids
from gateway.incidents.service import IncidentService
from tests.support.services import REPO, free_port, wait_port

T0 = datetime(2026, 11, 21, 8, 0, 0, tzinfo=UTC)
MASK = [[0.55, 0.55], [0.85, 0.55], [0.85, 0.85], [0.55, 0.85]]


class Gateway:
    """The real gateway app on a loopback port, in this process (uvicorn in a thread)."""

    def __init__(self, pg_url: str, media_dir: Path, clock=None, **settings):
        self.settings = Settings(db_url=pg_url, media_dir=media_dir, admin_token="admin-secret", **settings)
        self.db = Database(pg_url)
        self.db.upgrade()
        self.service = IncidentService.from_settings(self.settings, self.db, **({"clock": clock} if clock else {}))
        self.app = create_app(self.settings, self.db, service=self.service)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> "Gateway":
        self.thread.start()
        wait_port(self.port, timeout=20)
        with self.db.session() as s:
            import_grids(s, json.loads((REPO / "gateway/examples/grids.geojson").read_text()), T0)
        return self

    def token(self, name: str, role: str, grid: str | None) -> str:
        with self.db.session() as s:
            return issue_token(s, name=name, role=role, grid_id=grid, username=None, now=T0, ttl=None)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.db.dispose()
