"""Retention: the pure planner, and the clean-up against a real gateway (PostgreSQL, files on disk)
with a fake clock and a small size limit."""
from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from alerts import Alert, AlertSource, AlertType, new_alert_id
from gateway.api.auth import make_principal
from gateway.db.models import AuditEntry, Media
from gateway.media.retention import RetentionPolicy, StoredMedia, plan_retention
from gateway.media.service import media_key
from gateway.media.storage import MediaStore
from tests.support.media_gateway import Gateway

T0 = datetime(2026, 11, 1, 8, 0, 0, tzinfo=UTC)


def item(i: int, hours: float, size: int = 100, camera: str = "cam-a", kind: str = "clip", protected=False):
    return StoredMedia(i, camera, kind, size, T0 + timedelta(hours=hours), protected)


def ids(plan) -> list[tuple[int, str]]:
    return [(r.item.id, r.reason) for r in plan.removals]


def test_age_limits_per_kind_and_camera():
    policy = RetentionPolicy(max_age_days={"clip": 7, "snapshot": 30}, cameras={"cam-b": {"clip": 1}})
    items = [item(1, 0), item(2, 0, kind="snapshot"), item(3, 0, camera="cam-b"), item(4, 6 * 24),
             item(5, 0, protected=True), item(6, 0, kind="photo")]
    now = T0 + timedelta(days=8)
    assert ids(plan_retention(items, now, policy)) == [(1, "age"), (3, "age")]
    assert ids(plan_retention(items, T0 + timedelta(hours=25), policy)) == [(3, "age")]


def test_size_limit_removes_oldest_first_and_never_protected():
    policy = RetentionPolicy(max_age_days={}, max_total_bytes=350, camera_max_bytes={"cam-b": 100})
    items = [item(1, 0, protected=True), item(2, 1), item(3, 2, camera="cam-b"), item(4, 3, camera="cam-b"),
             item(5, 4), item(6, 5)]
    plan = plan_retention(items, T0 + timedelta(hours=6), policy)
    # cam-b over its own limit loses its oldest; then the total (500 > 350) loses the oldest unprotected
    assert ids(plan) == [(3, "camera_size"), (2, "total_size"), (4, "total_size")]
    assert (plan.kept_bytes, plan.freed_bytes, plan.over_limit_bytes) == (300, 300, 0)

    everything_protected = [item(i, i, protected=True) for i in range(5)]
    plan = plan_retention(everything_protected, T0, policy)
    assert plan.removals == [] and plan.over_limit_bytes == 150


class FakeClock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def gateway(pg_url, tmp_path):
    clock = FakeClock(T0)
    g = Gateway(pg_url, tmp_path / "media", clock=clock).start()
    g.clock = clock
    yield g
    g.stop()


def ingest(g, camera: str, at: datetime) -> tuple[Alert, int]:
    g.clock.now = at
    alert = Alert(id=new_alert_id(), edge_id="edge-t", source=AlertSource(kind="camera", id=camera), camera_id=camera,
                  type=AlertType.intrusion, ts=at, grid_hint="G-03-07")
    out = g.service.ingest(alert)
    assert out.disposition == "opened"
    return alert, out.incident_id


def upload(http, edge, at: datetime, camera: str, alert_ids: list[str], size: int = 1000) -> str:
    key = new_alert_id(int(at.timestamp() * 1000))
    data = b"\xff\xd8" + os.urandom(size - 2)
    meta = {"kind": "snapshot", "content_type": "image/jpeg", "camera_id": camera, "alert_ids": alert_ids,
            "start": at.strftime("%Y-%m-%dT%H:%M:%S.000Z")}
    r = http.put(f"/api/media/{key}", content=data, headers={**edge, "X-Media-Sha256": hashlib.sha256(data).hexdigest(),
                                                             "X-Media-Meta": json.dumps(meta),
                                                             "Content-Range": f"bytes 0-{size - 1}/{size}"})
    assert r.json()["complete"] is True, r.text
    return key


def test_cleanup_keeps_open_incidents_and_never_leaves_dangling_rows(gateway, tmp_path):
    g = gateway
    http = httpx.Client(base_url=g.url, timeout=30)
    edge = {"Authorization": f"Bearer {g.token('edge-t', 'edge', None)}"}
    admin = {"Authorization": "Bearer admin-secret"}
    principal = make_principal("admin", "admin", None, g.service.grids())

    a_open, inc_open = ingest(g, "cam-a", T0)
    a_closed1, inc1 = ingest(g, "cam-b", T0 + timedelta(hours=1))
    a_closed2, inc2 = ingest(g, "cam-c", T0 + timedelta(hours=2))
    for inc in (inc1, inc2):
        g.service.act(inc, "dismiss", principal, {"reason": "false alarm: a shadow"})

    k_open = upload(http, edge, T0, "cam-a", [a_open.id])                      # oldest, but its incident is open
    k1 = upload(http, edge, T0 + timedelta(hours=1), "cam-b", [a_closed1.id])
    k2 = upload(http, edge, T0 + timedelta(hours=2), "cam-c", [a_closed2.id])
    k_new = upload(http, edge, T0 + timedelta(hours=3), "cam-d", [])           # no incident at all

    store = MediaStore(g.settings.media_dir)
    # a file nobody registered (its upload's row never got written), from long ago
    orphan = store.root / "2026-10-01" / f"{new_alert_id(int(T0.timestamp() * 1000) - 10**9)}.jpg"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"x")
    os.utime(orphan, (0, 0))
    # a snapshot stored by the ingest elsewhere under the media dir is not ours to sweep
    foreign = store.root / "snapshots" / "ab" / "abc.jpg"
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(b"y")
    os.utime(foreign, (0, 0))

    g.app.state.media_retention = RetentionPolicy(max_age_days={"snapshot": 90}, max_total_bytes=2500)
    g.clock.now = T0 + timedelta(days=1)
    assert http.post("/api/media/cleanup", headers=edge).status_code == 403
    report = http.post("/api/media/cleanup", headers=admin).json()
    assert [(r["id"], r["reason"]) for r in report["removed"]] == [(k1, "total_size"), (k2, "total_size")]
    assert report["freed_bytes"] == 2000 and report["kept_bytes"] == 2000
    assert report["orphans_removed"] == [orphan.relative_to(store.root).as_posix()]
    assert not orphan.exists() and foreign.exists()
    assert_rows_match_files(g, store)

    # 100 days on: the unlinked snapshot is past its 90 days; the open incident's one stays
    g.clock.now = T0 + timedelta(days=100)
    report = http.post("/api/media/cleanup", headers=admin).json()
    assert [(r["id"], r["reason"]) for r in report["removed"]] == [(k_new, "age")]
    assert_rows_match_files(g, store)
    with g.db.session() as s:
        live = [media_key(m) for m in s.scalars(select(Media).where(Media.deleted_at.is_(None)))]
        deleted = s.scalars(select(AuditEntry).where(AuditEntry.action == "media.delete")).all()
    assert live == [k_open]
    assert sorted(e.object_id for e in deleted) == sorted([k1, k2, k_new])
    assert all(e.actor == "admin" and e.reason.startswith("retention:") for e in deleted)

    # removed media answer 404 (not a broken file), and the incident lists them as deleted
    worker = {"Authorization": f"Bearer {g.token('w', 'grid_worker', 'G-03-07')}"}
    assert http.get(f"/api/media/{k1}", headers=admin).status_code == 404
    assert http.get(f"/api/media/{k_open}", headers=worker).status_code == 200


def assert_rows_match_files(g, store: MediaStore) -> None:
    with g.db.session() as s:
        rows = s.scalars(select(Media)).all()
    assert rows
    for m in rows:
        exists = store.path(store.relative(m.path)).exists()
        assert exists == (m.deleted_at is None), f"{m.path}: deleted_at={m.deleted_at}, file exists={exists}"


def test_retention_loop_runs_on_its_own(gateway):
    from gateway.api.media import start_retention

    g = gateway
    http = httpx.Client(base_url=g.url, timeout=30)
    edge = {"Authorization": f"Bearer {g.token('edge-t', 'edge', None)}"}
    old = upload(http, edge, T0, "cam-a", [])
    fresh = upload(http, edge, T0 + timedelta(days=2), "cam-a", [])
    g.app.state.media_retention = RetentionPolicy(max_age_days={"snapshot": 1})
    g.clock.now = T0 + timedelta(days=2, hours=1)
    loop = start_retention(g.app, interval_s=0.05)
    try:
        deadline = time.monotonic() + 30
        while loop.runs < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        loop.stop()
    assert loop.runs >= 2
    with g.db.session() as s:
        live = [media_key(m) for m in s.scalars(select(Media).where(Media.deleted_at.is_(None)))]
    assert live == [fresh] and old not in live
