"""Rule state of every sensor, persisted in SQLite (WAL) so a bridge restart forgets no alarm
and raises none twice. One row per sensor holding the JSON state of rules.py; each message's
new state is written in one transaction, after its alerts are in the spool."""
from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any


class StateStore:
    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")   # WAL + NORMAL: durable across process crashes
        self._db.execute("CREATE TABLE IF NOT EXISTS sensor_state ("
                         " sensor_id TEXT PRIMARY KEY, data TEXT NOT NULL, updated REAL NOT NULL)")

    def load_all(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT sensor_id, data FROM sensor_state").fetchall()
        return {sid: json.loads(data) for sid, data in rows}

    def save(self, states: dict[str, dict[str, Any]], now: float) -> None:
        """Write the given sensors' states atomically (all or none)."""
        if not states:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO sensor_state (sensor_id, data, updated) VALUES (?, ?, ?) "
                    "ON CONFLICT(sensor_id) DO UPDATE SET data = excluded.data, updated = excluded.updated",
                    [(sid, json.dumps(st, separators=(",", ":")), now) for sid, st in states.items()])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()
