"""The incident lifecycle through the HTTP API (every side path, 409 on invalid transitions),
silences, audit, events, figures, login and tokens: a real uvicorn-free ASGI app over a
real SQLite database with the example grids."""
from __future__ import annotations

import json
from datetime import timedelta

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from alerts import parse_alert
from common.times import parse_iso
from tests.support.gateway import PASSWORD, alert, api_client

pytestmark = pytest.mark.quick  # no service: `make test-quick`

ADMIN = {"Authorization": "Bearer adm-token"}
JPEG = cv2.imencode(".jpg", np.full((48, 64, 3), (40, 160, 60), np.uint8))[1].tobytes()


@pytest.fixture
def gw(tmp_path):
    with api_client(tmp_path, mqtt_prefix="gwapi") as client:
        yield client


def login(client: TestClient, username: str) -> dict:
    r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.cookies.clear()  # each test call says who it is explicitly
    return {"Authorization": f"Bearer {r.json()['token']}"}


def open_incident(client, source: str = "cam-lawn-01", **kw) -> int:
    return client.svc.ingest(parse_alert(json.dumps(alert(source=source, **kw)))).incident_id


def act(client, who: dict, inc: int, action: str, **body):
    return client.post(f"/api/incidents/{inc}/{action}", headers=who, json=body)


def test_full_loop_with_photo_reopen_and_timeline(gw):
    worker, operator = login(gw, "worker.g0307"), login(gw, "community.c03")
    inc = open_incident(gw)
    detail = gw.get(f"/api/incidents/{inc}", headers=worker).json()
    assert detail["status"] == "dispatched" and detail["assignee"] == "worker.g0307"
    assert detail["allowed_actions"] == ["acknowledge", "resolve"]
    assert detail["alerts"][0]["snapshot_url"] is None and detail["alerts"][0]["disposition"] == "opened"

    r = act(gw, operator, inc, "verify")
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_transition"
    assert "must be 'resolved' first" in r.json()["error"]["message"]
    assert act(gw, worker, inc, "verify").status_code == 403
    assert act(gw, worker, inc, "acknowledge", note="on my way").json()["status"] == "acknowledged"
    r = gw.post(f"/api/incidents/{inc}/resolve", headers=worker, data={"note": "gate closed"},
                files={"photo": ("fix.jpg", JPEG, "image/jpeg")})
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    photo = gw.get(f"/api/incidents/{inc}/photos/0", headers=operator)
    assert photo.status_code == 200 and photo.content[:3] == b"\xff\xd8\xff"  # re-encoded: no metadata kept
    assert gw.get(f"/api/incidents/{inc}/photos/1", headers=operator).status_code == 404

    r = act(gw, operator, inc, "reopen")
    assert r.status_code == 409 and "reopen needs a reason" in r.json()["error"]["message"]
    assert act(gw, operator, inc, "reopen", reason="gate still open").json()["status"] == "dispatched"
    assert act(gw, worker, inc, "resolve", note="really closed now").status_code == 200
    assert act(gw, operator, inc, "verify", note="checked on camera").json()["status"] == "verified"
    closed = act(gw, operator, inc, "close").json()
    assert closed["status"] == "closed" and closed["closed_at"] and closed["reopen_count"] == 1
    assert act(gw, operator, inc, "close").status_code == 409

    detail = gw.get(f"/api/incidents/{inc}", headers=operator).json()
    steps = [(e["action"], e["from_status"], e["to_status"], e["actor"]) for e in detail["timeline"]]
    assert steps == [("opened", None, "open", "gridwatch"), ("dispatched", "open", "dispatched", "gridwatch"),
                     ("acknowledged", "dispatched", "acknowledged", "worker.g0307"),
                     ("resolved", "acknowledged", "resolved", "worker.g0307"),
                     ("reopened", "resolved", "dispatched", "community.c03"),
                     ("resolved", "dispatched", "resolved", "worker.g0307"),
                     ("verified", "resolved", "verified", "community.c03"),
                     ("closed", "verified", "closed", "community.c03")]
    assert detail["timeline"][4]["reason"] == "gate still open"
    assert detail["photos"] == [f"/api/incidents/{inc}/photos/0"]  # every resolution photo stays listed
    assert detail["resolution_note"] == "really closed now"
    assert detail["allowed_actions"] == []

    feed = gw.get("/api/events", headers=operator, params={"after": 0, "limit": 3}).json()
    assert [e["event"] for e in feed["items"]] == ["opened", "dispatched", "acknowledged"]
    rest = gw.get("/api/events", headers=operator, params={"after": feed["last_id"]}).json()
    assert [e["event"] for e in rest["items"]][-1] == "closed" and rest["items"][-1]["incident"]["status"] == "closed"

    trail = gw.get("/api/audit", headers=ADMIN, params={"object_type": "incident", "object_id": str(inc)}).json()
    actions = [e["action"] for e in reversed(trail["items"])]
    assert actions == ["incident.open", "incident.acknowledge", "incident.resolve", "incident.reopen",
                       "incident.resolve", "incident.verify", "incident.close"]
    assert trail["items"][3]["reason"] == "gate still open" and trail["items"][3]["actor"] == "community.c03"


def test_side_paths_dismiss_extend_reassign_escalate_merge(gw):
    op = login(gw, "street.duty")
    a, b, c = open_incident(gw), open_incident(gw, source="cam-b"), open_incident(gw, source="cam-c")
    assert act(gw, op, a, "dismiss").status_code == 409
    d = act(gw, op, a, "dismiss", reason="a cat on the lawn").json()
    assert d["status"] == "dismissed" and d["false_alarm"] is True and d["dismissed_at"]

    before = gw.get(f"/api/incidents/{b}", headers=op).json()["due_at"]
    r = act(gw, op, b, "extend", extend_minutes=90, reason="waiting for parts")
    after = r.json()["due_at"]
    assert parse_iso(after) - parse_iso(before) == timedelta(minutes=90)
    assert act(gw, op, b, "extend", reason="no minutes").status_code == 409
    assert act(gw, op, b, "reassign", assignee="worker.g0306").json()["assignee"] == "worker.g0306"
    esc = act(gw, op, b, "escalate", reason="needs the community").json()
    assert (esc["level"], esc["owner_grid_id"], esc["assignee"]) == ("community", "C-03", "community.c03")

    merged = act(gw, op, c, "merge", into=b).json()
    assert merged["status"] == "closed" and merged["merged_into"] == b
    assert gw.get(f"/api/incidents/{b}", headers=op).json()["alert_count"] == 2
    assert act(gw, op, b, "merge", into=b).status_code == 409
    assert act(gw, op, b, "merge", into=999999).status_code == 404
    assert act(gw, op, b, "fly").status_code == 422  # not one of the actions
    r = gw.post(f"/api/incidents/{b}/extend", headers={**op, "Content-Type": "application/json"}, content=b"{oops")
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    r = act(gw, op, b, "extend", extend_minutes=10, reason="x", bogus=1)
    assert r.status_code == 422 and "bogus" in r.json()["error"]["message"]
    assert gw.get("/api/incidents", headers=op, params={"status": "closed,dismissed"}).json()["total"] == 2


def test_silences_suppress_but_keep_alerts(gw):
    op = login(gw, "community.c03")
    r = gw.post("/api/silences", headers=op, json={"camera_id": "cam-lawn-01", "grid_id": "G-03-07",
                                                   "duration_minutes": 60, "reason": "maintenance of the pole"})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    outcome = gw.svc.ingest(parse_alert(json.dumps(alert())))
    assert outcome.disposition == "suppressed" and outcome.incident_id is None
    alerts = gw.get("/api/alerts", headers=op, params={"disposition": "suppressed"}).json()
    assert alerts["total"] == 1 and "maintenance of the pole" in alerts["items"][0]["reason"]
    assert gw.get("/api/incidents", headers=op).json()["total"] == 0
    # a grid-bound operator cannot silence outside its subtree, nor without a grid
    assert gw.post("/api/silences", headers=op, json={"grid_id": "G-04-01", "duration_minutes": 5,
                                                      "reason": "x"}).status_code == 403
    assert gw.post("/api/silences", headers=op, json={"type": "motion", "duration_minutes": 5,
                                                      "reason": "x"}).status_code == 403
    assert gw.post("/api/silences", headers=op, json={"duration_minutes": 5, "reason": "x"}).status_code == 422
    assert gw.delete(f"/api/silences/{sid}", headers=op).status_code == 200
    assert gw.svc.ingest(parse_alert(json.dumps(alert()))).disposition == "opened"
    assert gw.get("/api/silences", headers=op).json()["total"] == 0


def test_lists_paginate_and_filter(gw):
    op = login(gw, "street.duty")
    for n in range(5):
        open_incident(gw, source=f"cam-{n}")
    open_incident(gw, source="cam-far", location={"lat": 36.7221, "lon": 104.8302})
    page = gw.get("/api/incidents", headers=op, params={"limit": 2, "offset": 2}).json()
    assert page["total"] == 6 and len(page["items"]) == 2 and page["limit"] == 2
    everything = gw.get("/api/incidents", headers=op, params={"limit": 500}).json()["items"]
    assert [i["id"] for i in everything[2:4]] == [i["id"] for i in page["items"]]
    far = gw.get("/api/incidents", headers=op, params={"grid": "C-04"}).json()
    assert far["total"] == 1 and far["items"][0]["grid_id"].startswith("G-04")
    assert gw.get("/api/incidents", headers=op, params={"overdue": "true"}).json()["total"] == 0
    assert gw.get("/api/incidents", headers=op, params={"assignee": "worker.g0307"}).json()["total"] == 5
    assert gw.get("/api/incidents", headers=op, params={"limit": 0}).status_code == 422
    grids = {g["id"]: g for g in gw.get("/api/grids", headers=op).json()["items"]}
    assert grids["G-03-07"]["open_incidents"] == 5 and grids["C-03"]["open_incidents"] == 5
    assert grids["S-01"]["open_incidents"] == 6 and grids["G-03-07"]["people"][0]["user"] == "worker.g0307"
    geo = gw.get("/api/grids.geojson", headers=op).json()
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 9
    assert gw.get("/api/alerts", headers=op, params={"camera": "cam-far"}).json()["total"] == 1
    assert gw.get("/api/alerts", headers=op, params={"since": "yesterday"}).status_code == 400


def test_figures_as_json_csv_and_report(gw):
    op = login(gw, "street.duty")
    inc = open_incident(gw)
    act(gw, op, inc, "dismiss", reason="false alarm")
    fig = gw.get("/api/figures", headers=op).json()
    total = fig["items"][-1]
    assert total["grid_id"] is None and total["incidents"] == 1 and total["false_alarms"] == 1
    one = gw.get("/api/figures", headers=op, params={"grid": "C-03"}).json()["items"]
    assert len(one) == 1 and one[0]["incidents"] == 1
    csv = gw.get("/api/figures", headers=op, params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.startswith("grid_id,start,end,incidents")
    html = gw.get("/api/figures", headers=op, params={"format": "html"})
    assert html.headers["content-type"].startswith("text/html") and "<table" in html.text
    assert '<html lang="zh-CN">' in html.text and "<th>全部网格</th>" in html.text and "误报率" in html.text
    assert "西关第7网格（校园） (G-03-07)" in html.text and "@page" in html.text and "<script" not in html.text
    en = gw.get("/api/figures", headers={**op, "Accept-Language": "en"}, params={"format": "html"}).text
    assert "<th>All grids</th>" in en and "False-alarm rate" in en
    named = gw.get("/api/figures", headers=op, params={"format": "csv", "headings": "names"}).text
    assert named.startswith("\ufeff网格,起始,截止,") and named.count("\n") == csv.text.count("\n")
    assert gw.get("/api/figures", headers=op, params={"since": "2026-01-02T00:00:00Z",
                                                      "until": "2026-01-01T00:00:00Z"}).status_code == 400


def test_on_time_closure_leaves_out_open_incidents_not_yet_due(gw):
    op = login(gw, "street.duty")
    open_incident(gw)   # due hours from now
    until = (gw.svc.clock() + timedelta(days=1)).isoformat()   # the console asks up to the end of today
    total = gw.get("/api/figures", headers=op, params={"until": until}).json()["items"][-1]
    assert (total["incidents"], total["cases_due"], total["on_time_closure_rate"]) == (1, 0, None)


def test_dismiss_reason_is_a_choice_and_only_false_alarms_count_as_such(gw):
    op = login(gw, "street.duty")
    for n, kind in enumerate(["false_alarm", "duplicate", "test", "other"]):
        inc = open_incident(gw, source=f"cam-dismiss-{n}")
        r = act(gw, op, inc, "dismiss", kind=kind, note="from the console")
        assert r.status_code == 200, r.text
        detail = gw.get(f"/api/incidents/{inc}", headers=op).json()
        assert (detail["dismiss_kind"], detail["false_alarm"]) == (kind, kind == "false_alarm")
        assert detail["dismiss_reason"] == kind.replace("_", " ")
    r = act(gw, op, open_incident(gw, source="cam-dismiss-bad"), "dismiss", kind="boring")
    assert r.status_code == 422 and "kind" in r.json()["error"]["message"]
    total = gw.get("/api/figures", headers=op).json()["items"][-1]
    assert (total["incidents"], total["false_alarms"], total["false_alarm_rate"]) == (5, 1, 0.2)


def test_login_cookie_logout_users_and_tokens(gw):
    assert gw.post("/api/auth/login", json={"username": "worker.g0307", "password": "nope"}).status_code == 401
    r = gw.post("/api/auth/login", json={"username": "worker.g0307", "password": PASSWORD})
    body = r.json()
    assert body["user"] == {"username": "worker.g0307", "display_name": body["user"]["display_name"],
                            "role": "grid_worker", "grid_id": "G-03-07"}
    assert gw.get("/api/me").json()["username"] == "worker.g0307"  # via the gw_token cookie
    gw.post("/api/auth/logout")
    gw.cookies.clear()
    assert gw.get("/api/me", headers={"Authorization": f"Bearer {body['token']}"}).status_code == 401

    r = gw.post("/api/users", headers=ADMIN, json={"username": "ops.night", "role": "operator", "grid_id": "C-04",
                                                   "password": "longenough"})
    assert r.status_code == 201
    assert gw.post("/api/users", headers=ADMIN, json={"username": "ops.night", "role": "operator",
                                                      "password": "longenough"}).status_code == 409
    assert gw.post("/api/users", headers=ADMIN, json={"username": "x", "role": "operator", "grid_id": "NOPE",
                                                      "password": "longenough"}).status_code == 400
    tok = gw.post("/api/tokens", headers=ADMIN, json={"name": "dispatch-system", "role": "integration"}).json()["token"]
    integration = {"Authorization": f"Bearer {tok}"}
    inc = open_incident(gw)
    assert gw.get(f"/api/incidents/{inc}", headers=integration).json()["allowed_actions"] == []
    assert act(gw, integration, inc, "acknowledge").status_code == 403
    users = gw.get("/api/users", headers=ADMIN).json()
    assert "ops.night" in [u["username"] for u in users["items"]]
    assert gw.get("/api/users", headers=integration).status_code == 403
    r = gw.get("/api/incidents")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    assert gw.get("/healthz").json()["database"] is True


def test_audit_trail_is_append_only(gw):
    inc = open_incident(gw)
    act(gw, ADMIN, inc, "dismiss", reason="test")
    with gw.db.engine.connect() as conn:
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text("UPDATE audit SET actor = 'someone else'"))
        conn.rollback()
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text("DELETE FROM audit"))
        conn.rollback()
    entries = gw.get("/api/audit", headers=ADMIN).json()["items"]
    assert entries[0]["action"] == "incident.dismiss" and entries[0]["actor"] == "admin" and entries[0]["reason"] == "test"


def test_tokens_are_listed_without_secrets_and_revocable(gw):
    made = gw.post("/api/tokens", headers=ADMIN, json={"name": "nvr-bridge", "role": "integration",
                                                       "grid_id": "C-04", "expires_in_hours": 24}).json()
    who = {"Authorization": f"Bearer {made['token']}"}
    assert gw.get("/api/me", headers=who).json() == {"username": "nvr-bridge", "display_name": "nvr-bridge",
                                                      "role": "integration", "grid_id": "C-04", "grid_name": "东口社区"}
    listed = gw.get("/api/tokens", headers=ADMIN).json()["items"]
    assert made["token"] not in json.dumps(listed) and listed[0]["name"] == "nvr-bridge"
    assert gw.delete(f"/api/tokens/{made['id']}", headers=ADMIN).json()["revoked_at"]
    assert gw.get("/api/me", headers=who).status_code == 401
    assert gw.delete("/api/tokens/999999", headers=ADMIN).status_code == 404


def test_professional_grid_sees_the_incidents_sent_to_it(gw):
    fire = login(gw, "fire.duty")
    smoke = alert(source="smoke-b3-201", type_="sensor.alarm", camera_id=None, severity="critical",
                  details={"sensor_kind": "smoke"})
    smoke["source"] = {"kind": "sensor", "id": "smoke-b3-201"}
    inc = gw.svc.ingest(parse_alert(json.dumps(smoke))).incident_id
    other = open_incident(gw)  # an intrusion: not the fire-safety grid's business
    assert gw.get(f"/api/incidents/{inc}", headers=fire).json()["professional_grid_id"] == "P-FIRE-01"
    assert gw.get(f"/api/incidents/{other}", headers=fire).status_code == 404
    assert [i["id"] for i in gw.get("/api/incidents", headers=fire).json()["items"]] == [inc]
