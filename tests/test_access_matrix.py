"""Access control: every role against every endpoint, on its own grid's incident and on a
foreign grid's. Expected statuses are written out per role, not derived from the code."""
from __future__ import annotations

import base64
import itertools
import json

import pytest
from fastapi.testclient import TestClient

from alerts import parse_alert
from common.times import utcnow
from gateway.api.auth import issue_token
from gateway.app import create_app
from gateway.config import Settings
from tests.support.gateway import alert, make_db

pytestmark = pytest.mark.quick  # no service: `make test-quick`

PASSWORD = "matrix-password"
FOREIGN_LOC = {"lat": 36.7221, "lon": 104.8302}  # in community C-04
SNAPSHOT = base64.b64encode(b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9").decode()
ROLES = ["admin", "op_street", "op_c03", "worker", "integration", "edge", "anonymous"]
_counter = itertools.count()


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("matrix")
    url = f"sqlite:///{tmp}/gw.db"
    db = make_db(url, seed_password=PASSWORD)
    app = create_app(Settings(db_url=url, admin_token="adm-token", media_dir=tmp / "media"), db)
    client = TestClient(app)
    client.svc = app.state.service
    headers = {"admin": {"Authorization": "Bearer adm-token"}, "anonymous": {}}
    for role, user in (("op_street", "street.duty"), ("op_c03", "community.c03"), ("worker", "worker.g0307")):
        token = client.post("/api/auth/login", json={"username": user, "password": PASSWORD}).json()["token"]
        headers[role] = {"Authorization": f"Bearer {token}"}
    client.cookies.clear()
    with db.session() as s:
        for role, api_role in (("integration", "integration"), ("edge", "edge")):
            token = issue_token(s, name=f"{role}-token", role=api_role, grid_id="C-03", username=None, now=utcnow(),
                                ttl=None)
            headers[role] = {"Authorization": f"Bearer {token}"}
    client.headers_for = headers
    yield client
    db.dispose()


def new_incident(gw, foreign: bool) -> tuple[int, str]:
    a = alert(source=f"cam-m{next(_counter)}", snapshot=SNAPSHOT,
              **({"location": FOREIGN_LOC} if foreign else {}))
    outcome = gw.svc.ingest(parse_alert(json.dumps(a)))
    assert outcome.grid_id == ("G-04-01" if foreign else "G-03-07")
    return outcome.incident_id, a["id"]


READ = {"admin": 200, "op_street": 200, "op_c03": 200, "worker": 200, "integration": 200, "edge": 403, "anonymous": 401}
OPS = {**READ, "worker": 403, "integration": 403}
ADMIN_ONLY = {**OPS, "op_street": 403, "op_c03": 403}

ENDPOINTS = [
    ("GET", "/api/me", {**READ, "edge": 200}),
    ("GET", "/api/incidents", READ),
    ("GET", "/api/alerts", READ),
    ("GET", "/api/grids", READ),
    ("GET", "/api/grids.geojson", READ),
    ("GET", "/api/edges", READ),
    ("GET", "/api/cameras", READ),
    ("GET", "/api/sensors", READ),
    ("GET", "/api/events", READ),
    ("GET", "/api/figures", READ),
    ("GET", "/api/silences", READ),
    ("GET", "/api/dead-letters", {**READ, "worker": 403}),
    ("GET", "/api/audit", OPS),
    ("GET", "/api/users", ADMIN_ONLY),
    ("POST", "/api/users", {**ADMIN_ONLY, "admin": 201}),
    ("POST", "/api/tokens", {**ADMIN_ONLY, "admin": 201}),
    ("GET", "/api/tokens", ADMIN_ONLY),
    ("POST", "/api/silences", {**OPS, "admin": 201, "op_street": 201, "op_c03": 201}),
    ("GET", "/healthz", dict.fromkeys(ROLES, 200)),
    ("GET", "/metrics", dict.fromkeys(ROLES, 200)),
]


def _body(method: str, path: str) -> dict | None:
    n = next(_counter)
    return {"/api/users": {"username": f"user{n}", "role": "operator", "grid_id": "C-03", "password": "longenough1"},
            "/api/tokens": {"name": f"t{n}", "role": "integration", "grid_id": "C-03"},
            "/api/silences": {"grid_id": "G-03-06", "type": "motion", "duration_minutes": 5, "reason": "matrix"},
            }.get(path) if method == "POST" else None


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method,path,expected", ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
def test_endpoint_by_role(gw, role, method, path, expected):
    r = gw.request(method, path, headers=gw.headers_for[role], json=_body(method, path))
    assert r.status_code == expected[role], r.text
    if r.status_code >= 400:
        assert set(r.json()["error"]) == {"code", "message"}


# per role: (own grid's incident, foreign grid's incident)
SEE = {"admin": (200, 200), "op_street": (200, 200), "op_c03": (200, 404), "worker": (200, 404),
       "integration": (200, 404), "edge": (403, 403), "anonymous": (401, 401)}
ACKNOWLEDGE = {"admin": (200, 200), "op_street": (200, 200), "op_c03": (200, 404), "worker": (200, 404),
               "integration": (403, 404), "edge": (403, 403), "anonymous": (401, 401)}
# verifying a dispatched incident: roles that may verify get the 409 of the state machine
VERIFY = {"admin": (409, 409), "op_street": (409, 409), "op_c03": (409, 404), "worker": (403, 404),
          "integration": (403, 404), "edge": (403, 403), "anonymous": (401, 401)}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("foreign", [False, True], ids=["own", "foreign"])
def test_incident_access_by_role(gw, role, foreign):
    h = gw.headers_for[role]
    inc, alert_id = new_incident(gw, foreign)
    k = int(foreign)
    for path in (f"/api/incidents/{inc}", f"/api/alerts/{alert_id}", f"/api/alerts/{alert_id}/snapshot"):
        assert gw.get(path, headers=h).status_code == SEE[role][k], (path, role)
    assert gw.post(f"/api/incidents/{inc}/verify", headers=h).status_code == VERIFY[role][k]
    assert gw.post(f"/api/incidents/{inc}/acknowledge", headers=h).status_code == ACKNOWLEDGE[role][k]
    listed = gw.get("/api/incidents", headers=h, params={"limit": 500})
    if listed.status_code == 200:
        assert (inc in [i["id"] for i in listed.json()["items"]]) == (SEE[role][k] == 200)
        events = gw.get("/api/events", headers=h, params={"limit": 1000}).json()["items"]
        assert (inc in {e["incident"]["id"] for e in events}) == (SEE[role][k] == 200)


def test_worker_acts_only_on_incidents_assigned_to_them(gw):
    """A reassigned incident of the worker's own grid stays visible but is no longer theirs to act on."""
    inc, _ = new_incident(gw, foreign=False)
    admin, worker = gw.headers_for["admin"], gw.headers_for["worker"]
    assert gw.post(f"/api/incidents/{inc}/reassign", headers=admin, json={"assignee": "leader.c03"}).status_code == 200
    r = gw.post(f"/api/incidents/{inc}/acknowledge", headers=worker)
    assert r.status_code == 403 and "assigned to leader.c03" in r.json()["error"]["message"]
    assert gw.get(f"/api/incidents/{inc}", headers=worker).json()["allowed_actions"] == []
