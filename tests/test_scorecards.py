"""Scorecards against a day worked out by hand: four cases in two grids of community C-03 (a
camera alert handled on time, a patrol report escalated for want of an acknowledgement and
rated satisfied, a resident's report sent back by a "not satisfied", a late resolution), run
through the real service and read from its timeline, over the API as JSON, CSV and HTML;
on SQLite and on PostgreSQL."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from alerts import parse_alert
from gateway.api.auth import make_principal
from gateway.app import create_app
from gateway.config import Settings
from gateway.incidents.reports import NewReport, file_report
from gateway.incidents.service import IncidentService
from gateway.incidents.timers import TimerWorker
from tests.support.gateway import LAWN, alert, make_db

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
G0306 = {"lat": 36.7300, "lon": 104.8312}  # inside G-03-06


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now

    def at(self, **delta):
        self.now = T0 + timedelta(**delta)


@pytest.fixture(params=[pytest.param("sqlite", marks=pytest.mark.quick), "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/gw.db"
    return request.getfixturevalue("pg_url")


def test_a_day_of_cases_scores_as_worked_out_by_hand(tmp_path, db_url):
    db = make_db(db_url)
    clock = Clock()
    svc = IncidentService(db, media_dir=tmp_path, clock=clock)
    grids = svc.grids()
    admin = make_principal("admin", "admin", None, grids)
    w07, w06 = (make_principal(u, "grid_worker", g, grids) for u, g in (("worker.g0307", "G-03-07"),
                                                                        ("worker.g0306", "G-03-06")))
    community = make_principal("community.c03", "operator", "C-03", grids)

    def report(channel, actor, code, where):
        with db.session() as s:
            return file_report(svc, s, NewReport(category=code, description=code, lat=where["lat"], lon=where["lon"],
                                                 channel=channel), actor=actor, now=clock.now).id

    # A: a camera alert (major: 8 h to resolve) in G-03-07 at 09:00, handled on time
    a = svc.ingest(parse_alert(json.dumps(alert()))).incident_id
    clock.at(minutes=10)
    svc.act(a, "acknowledge", w07, {})
    # B: found on patrol by worker.g0307 at 10:00 (minor: 4 h to acknowledge, 3 days to resolve)
    clock.at(hours=1)
    b = report("patrol", "worker.g0307", "garbage", LAWN)
    svc.act(a, "resolve", w07, {"note": "done"})
    # C: a resident's report in G-03-06 at 11:00
    clock.at(hours=2)
    c = report("open311", "open311:fms", "road", G0306)
    svc.act(a, "verify", admin, {})
    svc.act(a, "close", admin, {})  # A closed 2 h after filing
    # D: a camera alert in G-03-06 at 12:00, acknowledged, resolved after its 8 h
    clock.at(hours=3)
    d = svc.ingest(parse_alert(json.dumps(alert(source="cam-g0306", location=G0306)))).incident_id
    svc.act(c, "resolve", w06, {"note": "filled"})
    clock.at(hours=3, minutes=10)
    svc.act(d, "acknowledge", w06, {})
    clock.at(hours=4)
    svc.act(c, "verify", admin, {})
    svc.act(c, "close", admin, {})
    clock.at(hours=4, minutes=30)
    svc.act(c, "rate", admin, {"rating": "not_satisfied", "note": "still a hole"})  # back to verification
    clock.at(hours=5, minutes=1)  # B unacknowledged for 4 h: up to community.c03
    assert TimerWorker(db, svc, warn_before=timedelta(0)).run_once() == 1
    clock.at(hours=6)
    svc.act(b, "resolve", community, {"note": "cleared"})
    clock.at(hours=7)
    svc.act(b, "verify", admin, {})
    svc.act(b, "close", admin, {})  # B closed 6 h after filing
    clock.at(hours=8)
    svc.act(b, "rate", admin, {"rating": "satisfied"})
    clock.at(hours=9)
    svc.act(c, "verify", admin, {})
    svc.act(c, "close", admin, {})  # C closed (again) 7 h after filing
    clock.at(hours=12)
    svc.act(d, "resolve", w06, {"note": "late"})  # due at 20:00 (8 h after 12:00): an hour late

    app = create_app(Settings(db_url=str(db.engine.url), admin_token="adm"), db, service=svc)
    with TestClient(app) as client:
        r = client.get("/api/scorecards", headers={"Authorization": "Bearer adm"},
                       params={"since": T0.isoformat(), "until": (T0 + timedelta(days=1)).isoformat()})
        assert r.status_code == 200, r.text
        rows = {(x["kind"], x["id"]): x for x in r.json()["items"]}
        csv = client.get("/api/scorecards", headers={"Authorization": "Bearer adm"},
                         params={"since": T0.isoformat(), "format": "csv", "until": (T0 + timedelta(days=1)).isoformat()})
        named = client.get("/api/scorecards", headers={"Authorization": "Bearer adm"}, params={
            "since": T0.isoformat(), "format": "csv", "headings": "names", "until": (T0 + timedelta(days=1)).isoformat()})
        report_html = client.get("/api/scorecards", headers={"Authorization": "Bearer adm", "Accept-Language": "zh-CN"},
                                 params={"since": T0.isoformat(), "format": "html", "kind": "grid",
                                         "until": (T0 + timedelta(days=1)).isoformat()}).text
    pick = ("found", "received", "resolved", "on_time_handling_rate", "closed", "on_time_closure_rate", "escalations",
            "reopenings", "rated", "satisfaction_rate", "mean_dispatch_s", "mean_close_s")

    def got(kind, sid):
        return tuple(rows[(kind, sid)][k] for k in pick)

    h = 3600.0
    #                                      found recv res  on-time clo  on-time esc reop rated sat   disp  close
    assert got("worker", "worker.g0307") == (1, 2, 1, 1.0, 1, 1.0, 1, 0, 0, None, 0.0, 2 * h)
    assert got("worker", "community.c03") == (0, 1, 1, 1.0, 1, 1.0, 0, 0, 1, 1.0, None, 6 * h)
    assert got("worker", "worker.g0306") == (0, 2, 2, 0.5, 1, 1.0, 0, 1, 1, 0.0, 0.0, 7 * h)
    assert got("grid", "G-03-07") == (1, 2, 2, 1.0, 2, 1.0, 1, 0, 1, 1.0, 0.0, 4 * h)
    assert got("grid", "G-03-06") == (0, 2, 2, 0.5, 1, 1.0, 0, 1, 1, 0.0, 0.0, 7 * h)
    assert got("community", "C-03") == (1, 4, 4, 0.75, 3, 1.0, 1, 1, 2, 0.5, 0.0, 5 * h)
    assert got("street", "S-01") == got("community", "C-03")
    assert csv.text.splitlines()[0].startswith("kind,id,name,found,received") and len(csv.text.splitlines()) == len(rows) + 1
    assert named.text.startswith("\ufeff类别,") and "巡查发现" in named.text.splitlines()[0]
    assert named.text.splitlines()[1:] == csv.text.splitlines()[1:]  # the same figures, headed in words
    assert "<h1>考核</h1>" in report_html and "网格员" not in report_html and "G-03-07" in report_html
    assert "worker.g0307" not in report_html  # kind=grid: the grids only
