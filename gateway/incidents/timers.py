"""Deadline timers: rows in the `timers` table, fired once each across all replicas.

A pass claims due timers one at a time: `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL
(replicas skip what another is firing), then an atomic `UPDATE ... WHERE fired_at IS NULL`
that also makes the claim safe on SQLite (a plain transaction). The engine's `on_timer`
escalates inside the same transaction, so a crash before the commit leaves the timer due
and a restart fires it: nothing is lost, nothing fires twice.

Each pass also warns of resolution deadlines coming up (`warn_before`, 30 min by default): an
unresolved incident due within it gets one `deadline_near` event (published, so the people it
is assigned to hear of it), once per deadline: moving the deadline later warns again."""
from __future__ import annotations

import logging
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from gateway import metrics
from gateway.db import Database
from gateway.db.models import Incident, IncidentEvent, Timer
from gateway.engine.state import SYSTEM, UNRESOLVED
from gateway.incidents.service import Clock, IncidentService
from gateway.incidents.state import iso

log = logging.getLogger("gridwatch.timers")


class TimerWorker:
    def __init__(self, db: Database, service: IncidentService, *, interval_s: float = 1.0, clock: Clock | None = None,
                 worker_id: str | None = None, warn_before: timedelta = timedelta(minutes=30)):
        self.db = db
        self.service = service
        self.interval_s = interval_s
        self.clock = clock or service.clock
        self.worker_id = worker_id or f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"
        self.warn_before = warn_before
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, limit: int = 100) -> int:
        """Fire up to `limit` due timers; returns how many were fired."""
        fired = 0
        while fired < limit and self._fire_one(self.clock()):
            fired += 1
        if self.warn_before > timedelta(0):
            self.warn_due_soon(self.clock())
        return fired

    def warn_due_soon(self, now: datetime, limit: int = 100) -> int:
        """`deadline_near` for unresolved incidents due within `warn_before` and not yet warned
        of this deadline; returns how many were warned."""
        with self.db.session() as s:
            q = (select(Incident).where(Incident.status.in_(UNRESOLVED), Incident.due_at > now,
                                        Incident.due_at <= now + self.warn_before)
                 .order_by(Incident.due_at).limit(limit))
            if not self.db.is_sqlite:
                q = q.with_for_update(skip_locked=True, of=Incident)
            due = list(s.scalars(q))
            if not due:
                return 0
            warned = dict(s.execute(select(IncidentEvent.incident_id, func.max(IncidentEvent.at))
                                    .where(IncidentEvent.incident_id.in_([i.id for i in due]),
                                           IncidentEvent.event == "deadline_near")
                                    .group_by(IncidentEvent.incident_id)).all())
            n = 0
            for inc in due:
                last, due_at = warned.get(inc.id), inc.due_at
                assert due_at is not None  # the query asked for it
                if last is not None and _utc(last) >= _utc(due_at) - self.warn_before:
                    continue  # warned of this deadline already
                self.service.writer.event(s, inc, "deadline_near", SYSTEM.username, now,
                                          reason=f"resolution deadline {iso(due_at)} near",
                                          data={"deadline": "resolve", "due_at": iso(due_at)})
                n += 1
        if n:
            log.info("%d incident(s) warned of their coming deadline", n)
        return n

    def _fire_one(self, now: datetime) -> bool:
        with self.db.session() as s:
            q = (select(Timer).where(Timer.fired_at.is_(None), Timer.cancelled_at.is_(None), Timer.due_at <= now)
                 .order_by(Timer.due_at, Timer.id).limit(1))
            if not self.db.is_sqlite:
                q = q.with_for_update(skip_locked=True)
            timer = s.scalars(q).first()
            if timer is None:
                return False
            claimed = s.execute(update(Timer).where(Timer.id == timer.id, Timer.fired_at.is_(None))
                                .values(fired_at=now, fired_by=self.worker_id).returning(Timer.id)).scalar()
            if claimed is None:
                return True  # another worker fired it meanwhile: look for the next one
            s.refresh(timer)
            try:
                with s.begin_nested():  # a failing timer must not block the others forever
                    events = self.service.fire_timer(s, timer, now)
            except OperationalError:
                raise
            except Exception as e:
                log.exception("timer %d (incident %d) failed", timer.id, timer.incident_id)
                timer.fired_by = f"{self.worker_id} error: {type(e).__name__}: {e}"[:128]
                events = []
            metrics.TIMERS_FIRED.labels(timer.kind).inc()
            if events:
                log.info("timer %s of incident %d: %s", timer.kind, timer.incident_id, ", ".join(events))
        return True

    # -- background thread ---------------------------------------------------------------
    def start(self) -> "TimerWorker":
        self._thread = threading.Thread(target=self._run, name="timers", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # the database may be restarting: the rows wait, we retry
                log.exception("timer pass failed; retrying")
            self._stop.wait(self.interval_s)


def _utc(dt: datetime) -> datetime:
    """SQLite gives naive datetimes back (stored as UTC)."""
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
