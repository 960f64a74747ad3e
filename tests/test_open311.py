"""Open311 GeoReport v2 as an existing client speaks it: the spec's own example request (its
fields, form-encoded, with api_key), its response shapes in JSON and XML, its error format and
codes; a report becomes an incident routed to its grid and dispatched like an alert, runs the
same loop, and its reporter's contact details never leave with the case."""
from __future__ import annotations

import json
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import select

from gateway.db.models import AuditEntry, Incident, IncidentEvent, OutboxMessage, Report
from tests.support.gateway import LAWN, PASSWORD, api_client

pytestmark = pytest.mark.quick

ADMIN = {"Authorization": "Bearer adm-token"}
# The spec's POST example (wiki.open311.org/GeoReport_v2#POST_Service_Request), with a service of
# ours and a place in our grids for its San Francisco one.
SPEC_EXAMPLE = {"jurisdiction_id": "city.gov", "service_code": "road", "lat": str(LAWN["lat"]),
                "long": str(LAWN["lon"]), "address_string": "1234 5th street", "email": "smit333@sfgov.edu",
                "device_id": "tt222111", "account_id": "123456", "first_name": "john", "last_name": "smith",
                "phone": "111111111", "description": "A large sinkhole is destroying the street",
                "media_url": "http://www.city.gov/media/12345", "attribute[WHISPAWN]": "123456",
                "attribute[WHISDORN]": "COISL001"}
REQUEST_FIELDS = {"service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url"}


@pytest.fixture
def gw(tmp_path):
    with api_client(tmp_path) as client:
        tokens = {}
        for role in ("open311", "integration"):
            r = client.post("/api/tokens", headers=ADMIN, json={"name": f"{role}-client", "role": role})
            assert r.status_code == 201, r.text
            tokens[role] = r.json()["token"]
        client.tokens = tokens
        yield client


def test_services_list_the_report_categories_in_the_callers_language_in_json_and_xml(gw):
    zh = gw.get("/open311/v2/services.json").json()
    assert {s["service_code"] for s in zh} >= {"garbage", "road", "streetlight", "manhole", "other"}
    road = next(s for s in zh if s["service_code"] == "road")
    assert set(road) == {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
    assert road["service_name"] == "道路破损" and road["metadata"] is False and road["type"] == "realtime"
    en = gw.get("/open311/v2/services.json", headers={"Accept-Language": "en"}).json()
    assert next(s for s in en if s["service_code"] == "road")["service_name"] == "Damaged road or pavement"
    xml = gw.get("/open311/v2/services.xml")
    assert xml.headers["content-type"].startswith("text/xml")
    assert xml.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    root = ET.fromstring(xml.content)
    codes = {s.findtext("service_code") for s in root.findall("service")}
    assert root.tag == "services" and codes == {s["service_code"] for s in zh}
    assert root.find("service").findtext("metadata") == "false"
    d = gw.get("/open311/v2/services/road.json").json()
    assert d == {"service_code": "road", "attributes": []}
    r = gw.get("/open311/v2/services/potholes.json")
    assert r.status_code == 404 and r.json() == [{"code": 404, "description": "service_code 'potholes' not found"}]


def test_the_specs_example_request_opens_a_dispatched_incident_and_runs_the_loop(gw):
    key = gw.tokens["open311"]
    r = gw.post("/open311/v2/requests.json", data={**SPEC_EXAMPLE, "api_key": key})
    assert r.status_code == 200, r.text
    (created,) = r.json()
    assert set(created) == {"service_request_id", "service_notice", "account_id"} and created["account_id"] is None
    rid = created["service_request_id"]
    with gw.db.session() as s:
        inc = s.get(Incident, int(rid))
        assert (inc.type, inc.grid_id, inc.status, inc.assignee) == ("report.road", "G-03-07", "dispatched", "worker.g0307")
        rep = s.get(Report, int(rid))
        assert rep.reporter == {"first_name": "john", "last_name": "smith", "email": "smit333@sfgov.edu",
                                "phone": "111111111", "device_id": "tt222111", "account_id": "123456"}
        published = [json.dumps(m.payload) for m in s.scalars(select(OutboxMessage))]
        timeline = [e.event for e in s.scalars(select(IncidentEvent).where(IncidentEvent.incident_id == int(rid)))]
    assert published and not any("smit333" in p or "111111111" in p or "smith" in p for p in published)
    assert timeline[:2] == ["opened", "dispatched"]

    (got,) = gw.get(f"/open311/v2/requests/{rid}.json", params={"api_key": gw.tokens["integration"]}).json()
    assert set(got) == REQUEST_FIELDS
    assert (got["status"], got["service_code"], got["description"]) == ("open", "road", SPEC_EXAMPLE["description"])
    assert got["lat"] == LAWN["lat"] and got["long"] == LAWN["lon"] and got["media_url"] == SPEC_EXAMPLE["media_url"]
    assert got["requested_datetime"].endswith("Z") and got["expected_datetime"] and got["agency_responsible"] == "G-03-07"
    assert "smit333" not in json.dumps(got)

    worker = {"Authorization": "Bearer " + gw.post("/api/auth/login", json={"username": "worker.g0307",
                                                                             "password": PASSWORD}).json()["token"]}
    for action, who in (("resolve", worker), ("verify", ADMIN), ("close", ADMIN)):
        assert gw.post(f"/api/incidents/{rid}/{action}", headers=who, json={"note": f"{action}d"}).status_code == 200
    integration = {"Authorization": f"Bearer {gw.tokens['integration']}"}
    assert gw.get(f"/api/incidents/{rid}/report", headers=worker).json()["reporter"]["email"] == "smit333@sfgov.edu"
    seen = gw.get(f"/api/incidents/{rid}/report", headers=integration).json()
    assert seen["reporter"] is None and seen["service_code"] == "road"  # the case, not who reported it
    with gw.db.session() as s:  # each view of the contact details is in the audit trail
        views = s.scalars(select(AuditEntry).where(AuditEntry.action == "report.contact_view")).all()
        assert [(v.actor, v.object_id) for v in views] == [("worker.g0307", rid)]
    (done,) = gw.get("/open311/v2/requests.json", params={"service_request_id": rid, "api_key": key}).json()
    assert done["status"] == "closed" and done["status_notes"] == "closed" and done["expected_datetime"] is None
    xml = ET.fromstring(gw.get(f"/open311/v2/requests/{rid}.xml", params={"api_key": key}).content)
    assert xml.tag == "service_requests" and xml.find("request").findtext("status") == "closed"
    assert {c.tag for c in xml.find("request")} == REQUEST_FIELDS


def test_requests_filter_by_status_service_and_time(gw):
    key = gw.tokens["open311"]
    ids = [gw.post("/open311/v2/requests.json", data={**SPEC_EXAMPLE, "service_code": code, "api_key": key})
           .json()[0]["service_request_id"] for code in ("road", "garbage")]
    listed = gw.get("/open311/v2/requests.json", params={"api_key": key}).json()
    assert [r["service_request_id"] for r in listed] == ids[::-1]  # newest first
    assert [r["service_code"] for r in gw.get("/open311/v2/requests.json",
                                              params={"api_key": key, "service_code": "garbage"}).json()] == ["garbage"]
    assert gw.get("/open311/v2/requests.json", params={"api_key": key, "status": "closed"}).json() == []
    assert gw.get("/open311/v2/requests.json", params={"api_key": key, "start_date": "2100-01-01T00:00:00Z"}).json() == []
    r = gw.get("/open311/v2/requests.json", params={"api_key": key, "start_date": "yesterday"})
    assert r.status_code == 400 and "start_date" in r.json()[0]["description"]


def test_errors_are_the_specs_list_with_its_codes_in_json_and_xml(gw):
    key = gw.tokens["open311"]
    r = gw.post("/open311/v2/requests.json", data={"api_key": key, "lat": "36.7", "long": "104.8"})
    assert r.status_code == 400 and r.json() == [{"code": 400, "description": "service_code was not provided"}]
    r = gw.post("/open311/v2/requests.json", data={"api_key": key, "service_code": "road", "description": "x"})
    assert r.status_code == 400 and "location is required" in r.json()[0]["description"]
    r = gw.post("/open311/v2/requests.xml", data={"api_key": "not-a-key", "service_code": "road"})
    root = ET.fromstring(r.content)
    assert r.status_code == 403 and root.tag == "errors" and root.find("error").findtext("code") == "403"
    assert "api_key" in root.find("error").findtext("description")
    r = gw.post("/open311/v2/requests.json", data={**SPEC_EXAMPLE, "api_key": gw.tokens["integration"]})
    assert r.status_code == 403 and "open311" in r.json()[0]["description"]  # reading is not posting
    assert gw.get("/open311/v2/requests.json").status_code == 403
    assert gw.get("/open311/v2/requests/999999.json", params={"api_key": key}).status_code == 404
    assert gw.get("/open311/v2/services.yaml").status_code == 404
    r = gw.post("/open311/v2/requests.json", data={**SPEC_EXAMPLE, "api_key": key, "lat": "north"})
    assert r.status_code == 400 and r.json()[0]["description"] == "lat must be a number, not 'north'"


def test_a_report_by_address_only_waits_in_the_unrouted_queue(gw):
    r = gw.post("/open311/v2/requests.json", data={"api_key": gw.tokens["open311"], "service_code": "streetlight",
                                                   "address_string": "西关街 12 号", "description": "路灯不亮"})
    rid = int(r.json()[0]["service_request_id"])
    with gw.db.session() as s:
        inc = s.get(Incident, rid)
        assert inc.grid_id is None and inc.level == "street" and "by hand" in inc.unrouted_reason


def test_the_reporters_satisfaction_sends_a_case_back_to_verification_once_and_counts_in_the_figures(gw):
    key = gw.tokens["open311"]
    rid = gw.post("/open311/v2/requests.json", data={**SPEC_EXAMPLE, "api_key": key}).json()[0]["service_request_id"]
    worker = {"Authorization": "Bearer " + gw.post("/api/auth/login", json={"username": "worker.g0307",
                                                                             "password": PASSWORD}).json()["token"]}
    gw.cookies.clear()

    def act(action, who=ADMIN, **body):
        return gw.post(f"/api/incidents/{rid}/{action}", headers=who, json=body)

    assert act("rate", rating="satisfied").status_code == 409  # not closed yet
    for action, who in (("resolve", worker), ("verify", ADMIN), ("close", ADMIN)):
        assert act(action, who, note=f"{action}d").status_code == 200
    assert act("rate", worker, rating="satisfied").status_code == 403  # the operator rates on the reporter's behalf
    r = act("rate", rating="unhappy")
    assert r.status_code == 422
    r = act("rate", rating="not_satisfied", note="坑还在")
    assert r.status_code == 200 and r.json()["status"] == "resolved"  # back to verification
    timeline = gw.get(f"/api/incidents/{rid}", headers=ADMIN).json()["timeline"]
    assert [e["event"] for e in timeline[-2:]] == ["rated", "reopened"]
    assert timeline[-2]["note"] == "坑还在" and timeline[-2]["data"]["rating"] == "not_satisfied"
    assert act("verify", note="回访确认").status_code == 200 and act("close").status_code == 200
    assert act("rate", rating="not_satisfied", note="still").json()["status"] == "closed"  # once only
    r = act("rate", rating="satisfied")
    assert r.status_code == 409 and "rated already" in r.json()["error"]["message"]
    fig = gw.get("/api/figures", headers=ADMIN, params={"grid": "G-03-07"}).json()["items"][0]
    assert (fig["rated"], fig["satisfaction_rate"]) == (1, 0.0)
    assert (fig["reopened"], fig["incidents"]) == (1, 1)
    inc = gw.post("/open311/v2/requests.json", data={**SPEC_EXAMPLE, "service_code": "noise", "api_key": key})
    other = inc.json()[0]["service_request_id"]
    for action, who in (("resolve", worker), ("verify", ADMIN), ("close", ADMIN)):
        gw.post(f"/api/incidents/{other}/{action}", headers=who, json={"note": "ok"})
    assert gw.post(f"/api/incidents/{other}/rate", headers=ADMIN, json={"rating": "basically_satisfied"}).status_code == 200
    fig = gw.get("/api/figures", headers=ADMIN, params={"grid": "G-03-07"}).json()["items"][0]
    assert (fig["rated"], fig["satisfaction_rate"]) == (2, 0.5)


def test_a_photo_uploaded_with_the_report_is_stored_without_exif_and_is_its_media_url(gw):
    import io

    from PIL import Image

    img, out = Image.new("RGB", (32, 24), (200, 30, 30)), io.BytesIO()
    exif = Image.Exif()
    exif[0x0110] = "Resident's phone"
    img.save(out, "JPEG", exif=exif)
    form = {k: v for k, v in SPEC_EXAMPLE.items() if k != "media_url"}
    r = gw.post("/open311/v2/requests.json", data={**form, "api_key": gw.tokens["open311"]},
                files={"media": ("hole.jpg", out.getvalue(), "image/jpeg")})
    rid = r.json()[0]["service_request_id"]
    (got,) = gw.get(f"/open311/v2/requests/{rid}.json", params={"api_key": gw.tokens["open311"]}).json()
    assert "/api/media/" in got["media_url"]
    photo = gw.get(got["media_url"].split("testserver", 1)[1], headers=ADMIN)
    assert photo.status_code == 200 and b"Resident" not in photo.content
    r = gw.post("/open311/v2/requests.json", data={**form, "api_key": gw.tokens["open311"]},
                files={"media": ("x.jpg", b"not a photo", "image/jpeg")})
    assert r.status_code == 400 and r.json()[0]["description"].startswith("media: not an image")


def test_the_routing_rules_file_declares_what_can_be_reported(tmp_path):
    rules = tmp_path / "routing.yaml"
    rules.write_text("""
categories:
  - {code: pothole, name: {zh-CN: 路面坑洼, en: Pothole}, group: streets, severity: major}
  - {code: garbage, name: Garbage piled up, group: sanitation}
rules:
  - {name: potholes-to-community, type: report.pothole, level: community}
""")
    with api_client(tmp_path, routing=rules) as gw:
        zh = gw.get("/open311/v2/services.json").json()
        assert [(s["service_code"], s["service_name"], s["group"]) for s in zh] == [
            ("pothole", "路面坑洼", "市政设施"), ("garbage", "垃圾堆放", "环境卫生")]
        en = gw.get("/api/report-categories", headers={**ADMIN, "Accept-Language": "en"}).json()["items"]
        assert [c["name"] for c in en] == ["Pothole", "Garbage piled up"]
        assert gw.get("/open311/v2/services/road.json").status_code == 404  # the built-in list is replaced
        r = gw.post("/open311/v2/requests.json", data={**SPEC_EXAMPLE, "service_code": "road", "api_key": "adm-token"})
        assert r.status_code == 404 and "road" in r.json()[0]["description"]
        r = gw.post("/open311/v2/requests.json", data={**SPEC_EXAMPLE, "service_code": "pothole",
                                                        "description": "", "api_key": "adm-token"})
        assert r.status_code == 200, r.text
        with gw.db.session() as s:
            inc = s.get(Incident, int(r.json()[0]["service_request_id"]))
            assert (inc.type, inc.severity, inc.level, inc.title) == ("report.pothole", "major", "community", "路面坑洼")
        (listed,) = gw.get("/open311/v2/requests.json", params={"api_key": "adm-token"},
                           headers={"Accept-Language": "en"}).json()
        assert listed["service_name"] == "Pothole"


def test_requests_page_on_and_keep_to_the_specs_90_day_range(gw):
    key = gw.tokens["open311"]
    ids = [gw.post("/open311/v2/requests.json", data={**SPEC_EXAMPLE, "api_key": key}).json()[0]["service_request_id"]
           for _ in range(5)]
    pages = [[r["service_request_id"] for r in gw.get("/open311/v2/requests.json", params={
        "api_key": key, "page_size": 2, "page": n}).json()] for n in (1, 2, 3, 4)]
    assert sum(pages, []) == ids[::-1] and [len(p) for p in pages] == [2, 2, 1, 0]
    r = gw.get("/open311/v2/requests.json", params={"api_key": key, "page_size": 5000})
    assert r.status_code == 400 and r.json()[0]["description"].startswith("page_size must be a whole number from 1 to 1000")
    r = gw.get("/open311/v2/requests.json", params={"api_key": key, "start_date": "2026-01-01T00:00:00Z",
                                                      "end_date": "2026-06-01T00:00:00Z"})
    assert r.status_code == 400 and "90 days" in r.json()[0]["description"]
    old = gw.get("/open311/v2/requests.json", params={"api_key": key, "end_date": "2020-01-01T00:00:00Z"}).json()
    assert old == []  # 90 days before an end date long ago
