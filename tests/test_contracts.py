"""The alert and camera-profile contracts: what producers and consumers rely on."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from alerts import new_alert_id, parse_alert, topics
from alerts.schema import json_schema
from camera_profiles import ProfileError, load_profile, load_profiles
from camera_profiles.vendors import rtsp_url

pytestmark = pytest.mark.quick  # no service: `make test-quick`

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = {
    "schema": "gridwatch.alert/1", "id": "01JD8K6Q4W2M5X7Z9B3C1V0N8R",
    "edge_id": "edge-changzheng-01", "source": {"kind": "camera", "id": "cam-lawn-01"},
    "camera_id": "cam-lawn-01", "type": "intrusion", "severity": "major",
    "ts": "2026-11-21T08:15:02.340Z", "frame": 1234, "zone": "lawn", "line": None,
    "bbox": [0.41, 0.62, 0.05, 0.18], "score": 0.91, "details": {},
    "snapshot": None, "location": {"lat": 36.7260, "lon": 104.8411}, "grid_hint": "G-03-07",
}


def test_design_example_round_trips():
    alert = parse_alert(json.dumps(EXAMPLE))
    assert alert.to_dict() == EXAMPLE


def test_ids_are_unique_and_sortable_by_time():
    ids = [new_alert_id(1_700_000_000_000 + i) for i in range(50)]
    assert len(set(ids)) == 50
    assert ids == sorted(ids)
    assert new_alert_id(1_700_000_000_000) < new_alert_id(1_800_000_000_000)


@pytest.mark.parametrize("payload, reason", [
    (b"not json", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (json.dumps({**EXAMPLE, "schema": "other/9"}).encode(), "unknown schema"),
    (json.dumps({**EXAMPLE, "type": "teleport"}).encode(), "type"),
    (json.dumps({**EXAMPLE, "ts": "2026-11-21T08:15:02"}).encode(), "time zone"),
    (json.dumps({**EXAMPLE, "bbox": [0, 0, 5, 5]}).encode(), "normalised"),
    (json.dumps({**EXAMPLE, "surprise": 1}).encode(), "surprise"),
    (b"{" + b" " * (3 * 1024 * 1024) + b"}", "too large"),
])
def test_bad_payloads_are_refused_with_a_reason(payload, reason):
    with pytest.raises(ValueError) as e:
        parse_alert(payload)
    assert reason in str(e.value)


def test_exported_json_schema_is_current():
    on_disk = json.loads((REPO / "alerts" / "alert.schema.json").read_text())
    assert on_disk == json_schema(), "run `make schema` to refresh alerts/alert.schema.json"


def test_topics_follow_design_and_cannot_inject_wildcards():
    assert topics.alert("edge-1", "cam-lawn-01") == "gridwatch/alerts/edge-1/cam-lawn-01"
    assert topics.camera_status("e", "c", prefix="x") == "x/status/e/c"
    assert topics.alert("e/+", "c#") == "gridwatch/alerts/e__/c_"
    assert topics.shared("gw", topics.alerts_filter()) == "$share/gw/gridwatch/alerts/+/+"


def test_example_profiles_load():
    profiles = load_profiles(["camera_profiles/examples/*.yaml"], base=REPO)
    assert {p.id for p in profiles} >= {"cam-lawn-01", "cam-gate-02", "cam-b3-stair"}
    assert next(p for p in profiles if p.id == "cam-b3-stair").onvif.profile == "sub"


def write(tmp_path, text):
    p = tmp_path / "cam.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, field, reason", [
    ("id: c1\nsource: x.mp4\nzones:\n  - name: z\n    polygon: [[0,0],[2,0],[0,1]]\n", "zones[0].polygon", "outside the frame"),
    ("id: c1\nsource: x.mp4\nzones:\n  - name: z\n    polygon: [[0,0],[1,1],[1,0],[0,1]]\n", "zones[0].polygon", "not valid"),
    ("id: c1\nsource: x.mp4\ndetect: {fps: -1}\n", "detect.fps", "greater than 0"),
    ("id: c1\nsource: x.mp4\nlines:\n  - {name: l, points: [[0.5,0],[0.5,1]], from_side: [0.5,0.5]}\n",
     "lines[0]", "names no side"),
    ("id: c1\nsource: x.mp4\nzonez: []\n", "zonez", "not permitted"),
    ("source: x.mp4\n", "id", "required"),
    ("id: c1\nsource: rtsp://u:${NO_SUCH_VAR_GW}@h/\n", "source", "NO_SUCH_VAR_GW is not set"),
    ("id: c1\nsource: [unclosed\n", "line 3", "not valid YAML"),
])
def test_broken_profile_names_file_field_and_reason(tmp_path, text, field, reason):
    path = write(tmp_path, text)
    with pytest.raises(ProfileError) as e:
        load_profile(path)
    msg = str(e.value)
    assert str(path) in msg and field in msg and reason in msg, msg


def test_env_expansion_with_default(tmp_path, monkeypatch):
    monkeypatch.setenv("GW_TEST_PASS", "s3cret")
    p = write(tmp_path, "id: c1\nsource: rtsp://admin:${GW_TEST_PASS}@h:${GW_PORT:-554}/x\n")
    assert load_profile(p).source == "rtsp://admin:s3cret@h:554/x"


def test_check_profile_command_reports_every_file(tmp_path):
    bad = write(tmp_path, "id: c1\nsource: x.mp4\ndetect: {width: 10}\n")
    out = subprocess.run([sys.executable, "-m", "edge", "check-profile", str(bad),
                          "camera_profiles/examples/lawn.yaml"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 1
    assert "detect.width" in out.stderr and "greater than or equal to 64" in out.stderr
    assert "ok: camera_profiles/examples/lawn.yaml" in out.stdout


@pytest.mark.parametrize("vendor, expected", [
    ("hikvision", "rtsp://admin:p%40ss@10.0.0.2:554/Streaming/Channels/102"),
    ("dahua", "rtsp://admin:p%40ss@10.0.0.2:554/cam/realmonitor?channel=1&subtype=1"),
    ("uniview", "rtsp://admin:p%40ss@10.0.0.2:554/unicast/c1/s1/live"),
    ("onvif", "rtsp://admin:p%40ss@10.0.0.2:554/onvif2"),
])
def test_vendor_templates(vendor, expected):
    assert rtsp_url(vendor, "10.0.0.2", "admin", "p@ss", stream="sub") == expected
    with pytest.raises(ValueError, match="unknown vendor"):
        rtsp_url("acme", "h")
