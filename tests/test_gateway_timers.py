"""Deadlines as timer rows: fired once, on time (an injected clock), across restarts and
across concurrent workers on PostgreSQL (FOR UPDATE SKIP LOCKED)."""
from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from alerts import parse_alert
from gateway.api.auth import make_principal
from gateway.db.models import Incident, IncidentEvent, OutboxMessage, Timer
from gateway.incidents.service import IncidentService
from gateway.incidents.timers import TimerWorker
from tests.support.gateway import alert, make_db

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _open(svc: IncidentService, source: str = "cam-lawn-01") -> int:
    return svc.ingest(parse_alert(json.dumps(alert(source=source)))).incident_id


def test_missed_ack_escalates_once_and_survives_restart(tmp_path):
    db = make_db(f"sqlite:///{tmp_path}/gw.db")
    clock = FakeClock(T0)
    svc = IncidentService(db, media_dir=tmp_path, clock=clock)
    escalating, acknowledged = _open(svc), _open(svc, source="cam-other")
    svc.act(acknowledged, "acknowledge", make_principal("admin", "admin", None, svc.grids()), {})
    worker = TimerWorker(db, svc)
    assert worker.run_once() == 0  # nothing due yet

    clock.now = T0 + timedelta(minutes=31)  # the 30-minute acknowledgement deadline passed
    assert worker.run_once() == 1  # only the unacknowledged incident's ack timer
    # a restarted gateway (new service and worker on the same database) fires nothing again
    restarted = TimerWorker(db, IncidentService(db, media_dir=tmp_path, clock=clock))
    assert restarted.run_once() == 0
    with db.session() as s:
        inc = s.get(Incident, escalating)
        assert (inc.level, inc.owner_grid_id, inc.assignee, inc.escalations) == ("community", "C-03", "community.c03", 1)
        assert inc.ack_due_at == clock.now + timedelta(minutes=30)  # new deadlines at the new level
        assert s.get(Incident, acknowledged).level == "grid"
        names = s.scalars(select(IncidentEvent.event).where(IncidentEvent.incident_id == escalating)
                          .order_by(IncidentEvent.id)).all()
        assert names == ["opened", "dispatched", "escalated", "dispatched"]
        outbox = [m.payload["event"] for m in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
                  if m.payload["incident"]["id"] == escalating]
        assert outbox == ["opened", "dispatched", "escalated", "dispatched"]
        pending = s.scalars(select(Timer).where(Timer.incident_id == escalating, Timer.fired_at.is_(None),
                                                Timer.cancelled_at.is_(None))).all()
        assert sorted(t.kind for t in pending) == ["ack_deadline", "resolve_deadline"]
    db.dispose()


def test_concurrent_workers_fire_each_timer_once_on_postgresql(pg_url, tmp_path):
    db = make_db(pg_url)
    clock = FakeClock(T0)
    svc = IncidentService(db, media_dir=tmp_path, clock=clock)
    ids = [_open(svc, source=f"cam-{n:02d}") for n in range(12)]
    clock.now = T0 + timedelta(minutes=31)
    workers = [TimerWorker(db, IncidentService(db, media_dir=tmp_path, clock=clock), worker_id=f"w{i}") for i in range(3)]
    fired = [0] * len(workers)

    def run(i: int) -> None:
        fired[i] = workers[i].run_once()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(fired) == len(ids)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(IncidentEvent).where(IncidentEvent.event == "escalated")) == len(ids)
        assert set(s.scalars(select(Incident.escalations))) == {1}
        by = s.scalars(select(Timer.fired_by).where(Timer.fired_at.is_not(None))).all()
        assert len(by) == len(ids) and all(b.startswith("w") for b in by)
    db.dispose()


def test_smoke_alarm_reaches_the_community_and_the_fire_safety_grid(tmp_path):
    db = make_db(f"sqlite:///{tmp_path}/gw.db")
    svc = IncidentService(db, media_dir=tmp_path, clock=FakeClock(T0))
    a = alert(source="smoke-b3-201", type_="sensor.alarm", camera_id=None, severity="critical",
              details={"sensor_kind": "smoke"})
    a["source"] = {"kind": "sensor", "id": "smoke-b3-201"}
    inc_id = svc.ingest(parse_alert(json.dumps(a))).incident_id
    with db.session() as s:
        inc = s.get(Incident, inc_id)
        assert (inc.grid_id, inc.level, inc.assignee, inc.professional_grid_id) == (
            "G-03-07", "community", "community.c03", "P-FIRE-01")
        topics_ = {m.topic for m in s.scalars(select(OutboxMessage))}
        assert topics_ == {"gridwatch/incidents/G-03-07", "gridwatch/incidents/P-FIRE-01"}
    db.dispose()


def test_a_coming_deadline_is_warned_of_once_and_again_when_it_moves(tmp_path):
    db = make_db(f"sqlite:///{tmp_path}/gw.db")
    clock = FakeClock(T0)
    svc = IncidentService(db, media_dir=tmp_path, clock=clock)
    admin = make_principal("admin", "admin", None, svc.grids())
    inc_id = _open(svc)
    svc.act(inc_id, "acknowledge", admin, {})
    with db.session() as s:
        due = s.get(Incident, inc_id).due_at.replace(tzinfo=UTC)
    worker = TimerWorker(db, svc, warn_before=timedelta(minutes=30))

    def warnings():
        with db.session() as s:
            return [(e.reason, e.to_status) for e in s.scalars(select(IncidentEvent).where(
                IncidentEvent.incident_id == inc_id, IncidentEvent.event == "deadline_near"))]

    clock.now = due - timedelta(minutes=31)
    worker.run_once()
    assert warnings() == []
    clock.now = due - timedelta(minutes=29)
    worker.run_once()
    clock.now = due - timedelta(minutes=10)
    worker.run_once()
    assert len(warnings()) == 1 and warnings()[0][1] == "acknowledged"  # a warning changes no state
    with db.session() as s:
        published = [m.payload["event"] for m in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
    assert published[-1] == "deadline_near"
    svc.act(inc_id, "extend", admin, {"minutes": 60, "reason": "waiting for parts"})
    clock.now = due + timedelta(minutes=35)  # 25 minutes before the new deadline
    worker.run_once()
    assert len(warnings()) == 2 and "near" in warnings()[1][0]
    db.dispose()
