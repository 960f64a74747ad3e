"""A grid worker's patrol report from the phone: placed by the phone, else by the photo's EXIF
position, else in the worker's grid; photos checked and stored without their EXIF; a report
outside the worker's area refused with the reason; "handled on the spot" goes straight to
verification; bad input is a clear 400."""
from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from shapely.geometry import shape
from sqlalchemy import select

from gateway.db.models import IncidentEvent, Media
from tests.support.gateway import GRIDS, LAWN, PASSWORD, api_client

pytestmark = pytest.mark.quick


def photo(gps: tuple[float, float] | None = None, fmt: str = "JPEG") -> bytes:
    img = Image.new("RGB", (64, 48), (40, 160, 60))
    exif = Image.Exif()
    exif[0x0110] = "Phone X by Someone"  # the camera model: must not survive
    if gps:
        def dms(v):
            d = int(v)
            m = int((v - d) * 60)
            return (d, m, round(((v - d) * 60 - m) * 60, 4))
        exif.get_ifd(0x8825).update({1: "N", 2: dms(gps[0]), 3: "E", 4: dms(gps[1])})
    out = io.BytesIO()
    img.save(out, fmt, exif=exif)
    return out.getvalue()


def centre_of(grid_id: str) -> tuple[float, float]:
    feat = next(f for f in json.loads(GRIDS.read_text())["features"] if f["properties"]["id"] == grid_id)
    p = shape(feat["geometry"]).representative_point()
    return p.y, p.x


@pytest.fixture
def gw(tmp_path):
    with api_client(tmp_path) as client:
        yield client


def login(gw, user: str) -> dict:
    token = gw.post("/api/auth/login", json={"username": user, "password": PASSWORD}).json()["token"]
    gw.cookies.clear()
    return {"Authorization": f"Bearer {token}"}


def test_a_patrol_report_is_placed_by_its_photo_and_keeps_no_exif(gw):
    worker = login(gw, "worker.g0307")
    r = gw.post("/api/reports", headers=worker, data={"category": "garbage", "description": "垃圾堆在楼道口"},
                files=[("photo", ("a.jpg", photo(gps=(LAWN["lat"], LAWN["lon"])), "image/jpeg")),
                       ("photo", ("b.png", photo(fmt="PNG"), "image/png"))])
    assert r.status_code == 201, r.text
    inc = r.json()
    assert (inc["located_by"], inc["grid_id"], inc["type"], inc["assignee"], inc["status"], inc["photos"]) == (
        "photo", "G-03-07", "report.garbage", "worker.g0307", "dispatched", 2)
    assert inc["title"] == "垃圾堆在楼道口"
    with gw.db.session() as s:
        events = list(s.scalars(select(IncidentEvent).where(IncidentEvent.incident_id == inc["id"])))
        stored = list(s.scalars(select(Media).where(Media.incident_id == inc["id"], Media.kind == "photo")))
    assert events[0].event == "opened" and events[0].data["reported_by"] == "worker.g0307"
    assert len(stored) == 2
    for row in stored:  # what the store holds: pixels only
        raw = (gw.svc.media.root / row.path).read_bytes()
        with Image.open(io.BytesIO(raw)) as img:
            assert img.format == "JPEG" and not img.getexif()
        assert b"Phone X" not in raw
    shown = gw.get(f"/api/incidents/{inc['id']}/media", headers=worker).json()
    assert sum(1 for m in shown["items"] if m["kind"] == "photo") == 2


def test_handled_on_the_spot_goes_to_verification_and_my_grid_is_the_fallback(gw):
    worker, operator = login(gw, "worker.g0307"), login(gw, "community.c03")
    r = gw.post("/api/reports", headers=worker, data={"category": "graffiti", "description": "小广告已清除",
                                                      "on_the_spot": "true"})
    inc = r.json()
    assert r.status_code == 201 and (inc["located_by"], inc["grid_id"], inc["status"]) == ("grid", "G-03-07", "resolved")
    r = gw.post(f"/api/incidents/{inc['id']}/verify", headers=operator, json={"note": "看过了"})
    assert r.status_code == 200 and r.json()["status"] == "verified"


def test_a_report_outside_the_workers_area_is_refused_with_the_reason(gw):
    worker = login(gw, "worker.g0307")
    lat, lon = centre_of("G-04-01")
    r = gw.post("/api/reports", headers=worker, data={"category": "road", "description": "路面塌陷",
                                                      "lat": str(lat), "lon": str(lon)})
    assert r.status_code == 403
    message = r.json()["error"]["message"]
    assert "own area" in message and "G-03-07" in message and "G-04-01" in message


def test_bad_reports_are_a_clear_400(gw):
    worker, admin = login(gw, "worker.g0307"), {"Authorization": "Bearer adm-token"}
    cases = [
        ({"description": "no category"}, [], "unknown category ''"),
        ({"category": "road", "description": "x"}, [("photo", ("a.txt", b"not an image at all", "image/jpeg"))],
         "not an image"),
        ({"category": "road", "description": "x"}, [("photo", ("a.gif", _gif(), "image/gif"))], "JPEG, PNG or WebP"),
        ({"category": "road", "description": "x", "lat": "north", "lon": "1"}, [], "lat must be a number"),
        ({"category": "road", "description": "   "}, [], "needs a description"),
    ]
    for data, files, why in cases:
        r = gw.post("/api/reports", headers=worker, data=data, files=files or None)
        assert r.status_code == 400 and why in r.json()["error"]["message"], (data, r.text)
    r = gw.post("/api/reports", headers=admin, data={"category": "road", "description": "where?"})
    assert r.status_code == 400 and "needs a place" in r.json()["error"]["message"]
    big = b"\xff\xd8" + b"0" * (10 * 1024 * 1024 + 1)
    r = gw.post("/api/reports", headers=worker, data={"category": "road", "description": "x"},
                files=[("photo", ("big.jpg", big, "image/jpeg"))])
    assert r.status_code == 400 and "larger than 10 MiB" in r.json()["error"]["message"]
    names = {c["code"]: c["name"] for c in gw.get("/api/report-categories", headers=worker).json()["items"]}
    assert names["manhole"] == "井盖缺失或破损"


def _gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "GIF")
    return out.getvalue()
