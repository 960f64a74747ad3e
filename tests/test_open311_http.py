"""Open311 over real HTTP: a FixMyStreet-like client against `python -m gateway serve` on
PostgreSQL with a real broker. The request it files becomes a dispatched incident whose
events reach MQTT without the reporter's contact details."""
from __future__ import annotations

from xml.etree import ElementTree as ET

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.browser.gateway_proc import GRID_CENTRES, Gateway
from tests.support.waiting import wait_for

CONTACT = {"first_name": "丽", "last_name": "赵", "email": "zhao.li@example.cn", "phone": "13800138000",
           "device_id": "dev-42", "account_id": "acct-7"}


def _tap(broker_url: str, prefix: str) -> tuple[mqtt.Client, list[str]]:
    seen: list[str] = []  # appended from paho's thread: list.append is atomic
    host, port = broker_url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"tap-{prefix}")
    client.on_message = lambda c, u, m: seen.append(m.topic + " " + m.payload.decode())
    client.connect(host, int(port))
    client.subscribe(f"{prefix}/#", qos=1)
    client.loop_start()
    return client, seen


def test_a_client_files_and_follows_a_request_over_http_on_postgresql(broker, prefix, pg_url):
    gw = Gateway(pg_url, broker.url, prefix).start()
    tap, seen = _tap(broker.url, prefix)
    try:
        made = gw.api("POST", "/api/tokens", json={"name": "fixmystreet", "role": "open311"})
        assert made.status_code in (200, 201), made.text
        key = made.json()["token"]

        services = httpx.get(gw.url + "/open311/v2/services.json", headers={"Accept-Language": "zh-CN"}).json()
        garbage = next(s for s in services if s["service_code"] == "garbage")
        assert garbage["type"] == "realtime" and any("\u4e00" <= ch <= "\u9fff" for ch in garbage["service_name"])
        xml = ET.fromstring(httpx.get(gw.url + "/open311/v2/services.xml").content)
        assert xml.tag == "services" and "garbage" in {s.findtext("service_code") for s in xml}

        lat, lon = GRID_CENTRES["G-03-07"]
        r = httpx.post(gw.url + "/open311/v2/requests.json",
                       data={"api_key": key, "service_code": "garbage", "lat": lat, "long": lon,
                             "description": "草坪边垃圾堆积", **CONTACT})
        assert r.status_code == 200, r.text
        rid = r.json()[0]["service_request_id"]
        inc = gw.api("GET", f"/api/incidents/{rid}").json()
        assert (inc["type"], inc["grid_id"], inc["status"], inc["assignee"]) == (
            "report.garbage", "G-03-07", "dispatched", "worker.g0307")

        # an integration token reads Open311 but files nothing; a wrong key neither
        reader = gw.api("POST", "/api/tokens", json={"name": "records", "role": "integration"}).json()["token"]
        for bad in (reader, "not-a-key"):
            refused = httpx.post(gw.url + "/open311/v2/requests.json",
                                 data={"api_key": bad, "service_code": "garbage", "lat": lat, "long": lon})
            assert refused.status_code == 403 and refused.json()[0]["code"] == 403, refused.text
        assert httpx.get(gw.url + f"/open311/v2/requests/{rid}.json", params={"api_key": reader}).status_code == 200
        assert httpx.get(gw.url + "/open311/v2/requests.json").status_code == 403

        (got,) = httpx.get(gw.url + f"/open311/v2/requests/{rid}.json", params={"api_key": key}).json()
        assert (got["status"], got["service_code"], got["agency_responsible"]) == ("open", "garbage", "G-03-07")
        listed = ET.fromstring(httpx.get(gw.url + "/open311/v2/requests.xml",
                                         params={"api_key": key, "status": "open"}).content)
        assert rid in {req.findtext("service_request_id") for req in listed}

        wait_for(lambda: any("report.garbage" in m for m in list(seen)), what="the incident's events on MQTT")
        published = "\n".join(seen)
        for value in CONTACT.values():
            assert value not in published, f"{value!r} leaked to MQTT"
        assert CONTACT["email"] not in str(got)
    finally:
        tap.loop_stop()
        tap.disconnect()
        gw.stop()
