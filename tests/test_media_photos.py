"""Resolution photos are media like clips and snapshots, through the one store: listed with the
incident's media, served at their media URL to whoever may see the incident, in the evidence
ZIP, and seen by retention and the orphan sweep; files of the layout before the one store
(`photos/<ab>/<sha256>.jpg`) are adopted at start. Real gateway (uvicorn, PostgreSQL)."""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from alerts import parse_alert
from gateway.api.auth import make_principal
from gateway.db.models import Media
from gateway.media.legacy import adopt_legacy_files
from gateway.media.retention import RetentionPolicy
from gateway.media.service import run_cleanup
from tests.support.gateway import alert
from tests.support.media_gateway import Gateway

JPEG = b"\xff\xd8\xff\xe0" + b"lawn-checked" * 40 + b"\xff\xd9"


@pytest.fixture
def gateway(pg_url, tmp_path):
    g = Gateway(pg_url, tmp_path / "media").start()
    yield g
    g.stop()


def resolved_with_photo(gateway) -> int:
    svc = gateway.service
    inc = svc.ingest(parse_alert(json.dumps(alert(source="cam-lawn-photo", grid_hint="G-03-07")))).incident_id
    worker = make_principal("worker.g0307", "grid_worker", "G-03-07", svc.grids())
    svc.act(inc, "resolve", worker, {"note": "checked", "photo_files": [(JPEG, "image/jpeg")]})
    return inc


def check_listed_served_exported(gateway, inc: int) -> str:
    http = httpx.Client(base_url=gateway.url, timeout=30)
    worker = {"Authorization": f"Bearer {gateway.token('worker.g0307', 'grid_worker', 'G-03-07')}"}
    community = {"Authorization": f"Bearer {gateway.token('community.c03', 'operator', 'C-03')}"}
    other = {"Authorization": f"Bearer {gateway.token('worker.g0401', 'grid_worker', 'G-04-01')}"}
    r = http.get(f"/api/incidents/{inc}/media", headers=worker)
    assert r.status_code == 200, r.text
    photos = [m for m in r.json()["items"] if m["kind"] == "photo"]
    assert len(photos) == 1 and photos[0]["status"] == "ready", r.json()
    photo = photos[0]
    for who in (worker, community):
        got = http.get(photo["url"], headers=who)
        assert got.status_code == 200 and got.content == JPEG, got.text
    assert http.get(photo["url"], headers=other).status_code == 403
    r = http.get(f"/api/incidents/{inc}/evidence", headers=community)
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        manifest = json.loads(z.read("manifest.json"))
        entry = next(f for f in manifest["files"] if f.get("media_id") == photo["id"])
        assert entry["kind"] == "photo" and z.read(entry["path"]) == JPEG
        assert entry["sha256"] == hashlib.sha256(JPEG).hexdigest() and manifest["integrity_problems"] == []
    return photo["id"]


def test_resolution_photo_is_listed_served_to_the_grid_and_exported(gateway):
    inc = resolved_with_photo(gateway)
    check_listed_served_exported(gateway, inc)


def test_photo_of_the_old_layout_is_adopted_and_then_kept_and_removed_like_any_media(gateway):
    inc = resolved_with_photo(gateway)
    # as the gateway stored photos before the one store: named by content, absolute path in the row
    sha = hashlib.sha256(JPEG).hexdigest()
    legacy = gateway.settings.media_dir / "photos" / sha[:2] / f"{sha}.jpg"
    legacy.parent.mkdir(parents=True)
    with gateway.db.session() as s:
        row = s.scalar(select(Media).where(Media.incident_id == inc, Media.kind == "photo"))
        gateway.service.media.file(row.path).rename(legacy)
        row.path = str(legacy)
    assert httpx.get(f"{gateway.url}/api/incidents/{inc}/media", timeout=30,
                     headers={"Authorization": "Bearer admin-secret"}).status_code == 200

    assert adopt_legacy_files(gateway.db, gateway.service.media) == 1
    assert not legacy.exists()
    assert adopt_legacy_files(gateway.db, gateway.service.media) == 0   # once is enough
    key = check_listed_served_exported(gateway, inc)

    store, now = gateway.service.media, datetime.now(UTC)
    policy = RetentionPolicy(max_age_days={"photo": 30})
    # the sweep knows the adopted file is a live one; the incident is open, so age does not remove it
    report = run_cleanup(gateway.db, store, policy, now + timedelta(days=400), orphan_grace_s=0)
    assert report.orphans_removed == [] and report.removed == []
    admin = make_principal("admin", "admin", None, gateway.service.grids())
    gateway.service.act(inc, "dismiss", admin, {"reason": "test over"})
    report = run_cleanup(gateway.db, store, policy, now + timedelta(days=400), orphan_grace_s=0)
    assert [(r["id"], r["kind"], r["reason"]) for r in report.removed] == [(key, "photo", "age")]
    assert store.own_files() == {}
