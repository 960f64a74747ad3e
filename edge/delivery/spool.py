"""The edge's durable outgoing queue: every alert lands here before it is published and
leaves only once the broker has acknowledged it (PUBACK).

SQLite in WAL mode: one file, crash-safe, readable while written. Entries are kept in
insertion order (`seq`); the queue is bounded by total size and by age, and when a bound
is hit the *oldest* entries are dropped, counted and reported, never silently.
Thread-safe: producers call `put` from their own threads while the MQTT thread removes.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    topic    TEXT    NOT NULL,
    payload  BLOB    NOT NULL,
    qos      INTEGER NOT NULL DEFAULT 1,
    retain   INTEGER NOT NULL DEFAULT 0,
    created  REAL    NOT NULL,
    size     INTEGER NOT NULL
)
"""


@dataclass(frozen=True)
class SpoolEntry:
    seq: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    created: float  # Unix seconds when it was spooled


class Spool:
    """A bounded FIFO of MQTT messages on disk. `path=None` keeps it in memory (tests, `analyze`)."""

    def __init__(self, path: str | Path | None, *, max_bytes: int = 256 * 2**20,
                 max_age_s: float = 7 * 86400, synchronous: str = "FULL",
                 clock: Callable[[], float] = time.time):
        self.path = str(path) if path is not None else ":memory:"
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed alert survives a power cut, not only a process crash.
        self._synchronous = synchronous
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.execute(_SCHEMA)
        count, total = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM spool").fetchone()
        self._count, self._bytes = int(count), int(total)
        self.dropped = 0  # entries removed by the size/age bounds since this process started
        self._last_warning = float("-inf")

    # -- producers -------------------------------------------------------------------------
    def put(self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False) -> int:
        """Store one message durably; returns its sequence number."""
        data = payload.encode() if isinstance(payload, str) else bytes(payload)
        now = self._clock()
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO spool (topic, payload, qos, retain, created, size) VALUES (?, ?, ?, ?, ?, ?)",
                (topic, data, qos, int(retain), now, len(data)))
            self._count += 1
            self._bytes += len(data)
            self._enforce_bounds_locked(now)
            return int(cur.lastrowid)

    # -- the sender -------------------------------------------------------------------------
    def peek(self, after: int = 0, before: int | None = None, limit: int = 100) -> list[SpoolEntry]:
        """Entries with after < seq (< before), oldest first."""
        sql = "SELECT seq, topic, payload, qos, retain, created FROM spool WHERE seq > ?"
        params: list = [after]
        if before is not None:
            sql += " AND seq < ?"
            params.append(before)
        sql += " ORDER BY seq LIMIT ?"
        params.append(limit)
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [SpoolEntry(r[0], r[1], bytes(r[2]), r[3], bool(r[4]), r[5]) for r in rows]

    def get(self, seq: int) -> SpoolEntry | None:
        with self._lock:
            r = self._db.execute(
                "SELECT seq, topic, payload, qos, retain, created FROM spool WHERE seq = ?", (seq,)).fetchone()
        return SpoolEntry(r[0], r[1], bytes(r[2]), r[3], bool(r[4]), r[5]) if r else None

    def remove(self, seq: int) -> bool:
        """Forget an acknowledged entry; False when it was already gone (e.g. dropped by a bound).
        Not fsynced on its own: a removal lost to a power cut only means the alert is sent
        again, which the gateway drops by its id; the next durable put syncs it anyway."""
        with self._lock:
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                row = self._db.execute("DELETE FROM spool WHERE seq = ? RETURNING size", (seq,)).fetchone()
            finally:
                self._db.execute(f"PRAGMA synchronous={self._synchronous}")
            if row is None:
                return False
            self._count -= 1
            self._bytes -= int(row[0])
            return True

    def last_seq(self) -> int:
        """The highest sequence number ever handed out (0 for a new spool)."""
        with self._lock:
            row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'spool'").fetchone()
        return int(row[0]) if row else 0

    def enforce_bounds(self) -> int:
        """Apply the age bound now (the size bound is applied on every put); returns entries dropped."""
        with self._lock:
            return self._enforce_bounds_locked(self._clock())

    def _enforce_bounds_locked(self, now: float) -> int:
        dropped = 0
        if self._count and self.max_age_s is not None:
            cutoff = now - self.max_age_s
            rows = self._db.execute("DELETE FROM spool WHERE created < ? RETURNING size", (cutoff,)).fetchall()
            if rows:
                self._forget(rows)
                dropped += len(rows)
                self.dropped += len(rows)
                self._warn(now, f"dropped {len(rows)} alert(s) older than {self.max_age_s:.0f} s")
        if self._bytes > self.max_bytes:
            # Drop just enough of the oldest entries, never the one just written.
            excess, upto, over = self._bytes - self.max_bytes, None, 0
            cur = self._db.execute("SELECT seq, size FROM spool ORDER BY seq LIMIT ?", (self._count - 1,))
            for seq, size in cur:
                excess -= size
                upto, over = seq, over + 1
                if excess <= 0:
                    break
            cur.close()
            if upto is not None:
                self._forget(self._db.execute("DELETE FROM spool WHERE seq <= ? RETURNING size", (upto,)).fetchall())
                dropped += over
                self.dropped += over
                self._warn(now, f"full (max {self.max_bytes} bytes), dropped the {over} oldest alert(s)")
        return dropped

    def _warn(self, now: float, what: str) -> None:
        # A full spool drops on every put: warn at most every 10 s, with the running total.
        if now - self._last_warning >= 10.0:
            self._last_warning = now
            log.warning("spool %s: %s; %d dropped in total so far", self.path, what, self.dropped)

    def _forget(self, rows: list) -> None:
        self._count -= len(rows)
        self._bytes -= sum(int(r[0]) for r in rows)

    # -- introspection ----------------------------------------------------------------------
    def __len__(self) -> int:
        return self._count

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def close(self) -> None:
        with self._lock:
            self._db.close()
