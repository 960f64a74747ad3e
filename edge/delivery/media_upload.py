"""Clips and snapshots travel to the gateway over HTTP, not MQTT: a durable SQLite queue on the
edge and a thread that uploads each file in chunks (`PUT /api/media/{id}` with Content-Range),
resuming where the gateway's copy ends, with the SHA-256 checked by the gateway at the end.
An unreachable gateway only delays uploads (backoff per item); a restart of either side
loses nothing."""
from __future__ import annotations

import json
import logging
import random
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from alerts.media import file_sha256
from common.backoff import Backoff

log = logging.getLogger("gridwatch.edge.media")

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    media_id   TEXT PRIMARY KEY,
    path       TEXT NOT NULL,
    meta       TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    state      TEXT NOT NULL DEFAULT 'pending',   -- pending | done | rejected | dropped
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_try   REAL NOT NULL DEFAULT 0,           -- Unix time
    last_error TEXT,
    created    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_due ON uploads (state, next_try);
"""


class Rejected(Exception):
    """The gateway refuses this item for good (bad id, type or range): retrying cannot help."""


class Retry(Exception):
    """A transient failure (network, gateway down, disk full there): try again later."""


@dataclass
class UploadStats:
    uploaded: int = 0
    bytes_sent: int = 0
    retries: int = 0
    rejected: int = 0
    dropped: int = 0


class MediaUploader:
    def __init__(self, gateway_url: str, token: str | None, queue_path: str | Path, *,
                 chunk_size: int = 1 << 20, max_bytes_per_s: float | None = None, timeout_s: float = 30.0,
                 backoff: Backoff | None = None, keep_files: bool = False, edge_id: str | None = None,
                 max_pending_bytes: int = 2 * 1024**3):
        self.gateway_url = gateway_url.rstrip("/")
        self.chunk_size = chunk_size
        self.max_bytes_per_s = max_bytes_per_s  # for thin uplinks: clips must not starve the alerts
        self.keep_files = keep_files
        self.max_pending_bytes = max_pending_bytes  # the edge's disk is small: beyond this, oldest media goes
        self.edge_id = edge_id
        self.backoff = backoff or Backoff(initial_s=1.0, max_s=300.0)
        self.stats = UploadStats()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.gateway_url, headers=headers, timeout=timeout_s)
        Path(queue_path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(queue_path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- any thread ---------------------------------------------------------------------------

    def enqueue(self, path: str | Path, media_ref: dict[str, Any]) -> None:
        """Queue a finished file for upload (durably; a second enqueue of the same id is ignored).
        `media_ref` is `FinishedClip.media_ref`: id, kind, content_type, sha256, size, alert ids..."""
        path = Path(path)
        sha, size = media_ref.get("sha256"), media_ref.get("size")
        if not sha or size is None:
            sha, size = file_sha256(path)
        meta = {k: v for k, v in media_ref.items() if k not in ("url", "status")}
        if self.edge_id:
            meta.setdefault("edge_id", self.edge_id)
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO uploads (media_id, path, meta, sha256, size, created) "
                             "VALUES (?, ?, ?, ?, ?, ?)",
                             (media_ref["id"], str(path), json.dumps(meta), sha, size, time.time()))
            self._shed(keep=media_ref["id"])
        self._wake.set()

    def _shed(self, keep: str) -> None:
        """Drop the oldest pending media while the queue holds more than `max_pending_bytes`
        (a gateway unreachable for days must not fill the edge's disk), never the newest (`keep`);
        logged and counted."""
        total = self._db.execute("SELECT coalesce(sum(size), 0) FROM uploads WHERE state = 'pending'").fetchone()[0]
        if total <= self.max_pending_bytes:
            return
        for media_id, path, size in self._db.execute(
                "SELECT media_id, path, size FROM uploads WHERE state = 'pending' AND media_id != ? "
                "ORDER BY created", (keep,)).fetchall():
            if total <= self.max_pending_bytes:
                break
            self._db.execute("UPDATE uploads SET state = 'dropped', last_error = 'edge media queue full' "
                             "WHERE media_id = ?", (media_id,))
            Path(path).unlink(missing_ok=True)
            total -= size
            self.stats.dropped += 1
            log.error("media %s dropped unsent: the edge's upload queue exceeds %d bytes", media_id,
                      self.max_pending_bytes)

    def enqueue_finished(self, fc) -> None:
        """`ClipRecorder(on_finished=uploader.enqueue_finished)`: queue each clip/snapshot as it is done."""
        self.enqueue(fc.path, fc.media_ref)

    def pending(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM uploads WHERE state = 'pending'").fetchone()[0]

    def state(self, media_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT state, attempts, last_error FROM uploads WHERE media_id = ?",
                                   (media_id,)).fetchone()
        return None if row is None else {"state": row[0], "attempts": row[1], "last_error": row[2]}

    def start(self) -> "MediaUploader":
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="media-upload", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._http.close()
        with self._lock:
            self._db.close()

    # ---- upload thread ------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # e.g. the queue's disk: log, and keep the thread alive for the next round
                log.exception("media upload round failed")
                busy = 0
            if not busy:
                self._wake.wait(1.0)
                self._wake.clear()

    def run_once(self) -> int:
        """Try every item that is due; returns how many were tried."""
        with self._lock:
            due = self._db.execute("SELECT media_id, path, meta, sha256, size, attempts FROM uploads "
                                   "WHERE state = 'pending' AND next_try <= ? ORDER BY created",
                                   (time.time(),)).fetchall()
        for media_id, path, meta, sha, size, attempts in due:
            if self._stop.is_set():
                break
            try:
                self._upload(media_id, Path(path), json.loads(meta), sha, size)
            except Rejected as e:
                self.stats.rejected += 1
                log.error("media %s rejected by the gateway, not retried: %s", media_id, e)
                self._set(media_id, state="rejected", last_error=str(e))
            except (Retry, httpx.HTTPError, OSError, ValueError) as e:  # ValueError: a garbled answer
                if self._stop.is_set():  # stopped mid-upload: the gateway keeps what it got, resumed at next start
                    log.info("media %s: upload paused by stop, resumed at the next start", media_id)
                    break
                self.stats.retries += 1
                delay = self.backoff.base(attempts + 1) * (1.0 - self.backoff.jitter * random.random())
                log.warning("media %s: upload failed (%s), retrying in %.0f s", media_id, e or type(e).__name__,
                            delay)
                self._set(media_id, attempts=attempts + 1, next_try=time.time() + delay, last_error=str(e)[:500])
            else:
                self.stats.uploaded += 1
                self._set(media_id, state="done", last_error=None)
                if not self.keep_files:
                    Path(path).unlink(missing_ok=True)
        return len(due)

    def _set(self, media_id: str, **cols: Any) -> None:
        names = ", ".join(f"{k} = ?" for k in cols)
        with self._lock:
            self._db.execute(f"UPDATE uploads SET {names} WHERE media_id = ?", (*cols.values(), media_id))

    def _upload(self, media_id: str, path: Path, meta: dict[str, Any], sha: str, size: int) -> None:
        if not path.exists():
            raise Rejected(f"{path} is gone from the edge")
        r = self._http.get(f"/api/media/{media_id}/upload")
        offset = self._received(r)
        if offset is None:
            return  # already complete at the gateway
        headers = {"X-Media-Sha256": sha, "X-Media-Meta": json.dumps(meta, ensure_ascii=True),
                   "Content-Type": "application/octet-stream"}
        with open(path, "rb") as f:
            while not self._stop.is_set():
                f.seek(offset)
                chunk = f.read(self.chunk_size)
                end = offset + len(chunk) - 1
                started = time.monotonic()
                r = self._http.put(f"/api/media/{media_id}", content=chunk,
                                   headers={**headers, "Content-Range": f"bytes {offset}-{end}/{size}"})
                self.stats.bytes_sent += len(chunk)
                if r.status_code == 422:  # the gateway's copy did not hash right: start over next time
                    local, _ = file_sha256(path)
                    if local != sha:
                        raise Rejected(f"{path} changed on the edge after it was queued")
                    raise Retry(f"hash mismatch at the gateway: {r.text[:200]}")
                received = self._received(r)
                if received is None:
                    return
                offset = received
                self._throttle(len(chunk), time.monotonic() - started)
            raise Retry("stopping")

    def _received(self, r: httpx.Response) -> int | None:
        """Bytes the gateway holds, or None when the upload is complete there."""
        if r.status_code in (200, 409):
            body = r.json()
            return None if body.get("complete") else int(body.get("received", 0))
        if r.status_code in (400, 413, 415):
            raise Rejected(f"{r.status_code}: {r.text[:300]}")
        raise Retry(f"{r.status_code}: {r.text[:300]}")  # 401/403 (token being fixed), 404 (no media API yet), 5xx, 507

    def _throttle(self, sent: int, took: float) -> None:
        if self.max_bytes_per_s:
            wait = sent / self.max_bytes_per_s - took
            if wait > 0:
                self._stop.wait(wait)
