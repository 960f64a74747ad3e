"""Stream roles, the pure parts: the record_source field's validation, the clip stream a profile
names, and which ONVIF profile detection takes when the profile names none."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from camera_profiles import CameraProfile
from camera_profiles.schema import OnvifRef
from edge.onvif.client import OnvifError, StreamProfile, pick_detect_profile, pick_profile

pytestmark = pytest.mark.quick

MAIN = StreamProfile("main", "MainStream", 1920, 1080, "H264")
SUB = StreamProfile("sub", "SubStream", 640, 360, "H264")
TINY = StreamProfile("tiny", "ThirdStream", 176, 144, "H264")


def _profile(**kw) -> CameraProfile:
    return CameraProfile.model_validate({"id": "cam1", "source": "rtsp://10.0.0.5/sub", **kw})


def test_record_source_url_is_the_clip_stream():
    p = _profile(record_source="rtsp://10.0.0.5/main")
    assert p.record_stream == "rtsp://10.0.0.5/main"
    assert _profile().record_stream is None   # no record stream: clips come from the detect stream


@pytest.mark.parametrize("record, needle", [
    ("", "record_source: empty"),
    ("rtsp://10.0.0.5/sub", "record_source: the same stream as source"),
    ({"onvif": {"host": "10.0.0.5", "record_profile": "main"}}, "record_source.onvif.record_profile"),
    ({"onvif": {"host": "10.0.0.5", "bogus": 1}}, "record_source"),
])
def test_record_source_errors_name_the_field(record, needle):
    with pytest.raises(ValidationError) as e:
        _profile(record_source=record)
    assert needle in str(e.value)


def test_record_source_and_record_profile_together_are_refused():
    with pytest.raises(ValidationError, match="both name the clip stream"):
        CameraProfile.model_validate({"id": "c", "source": {"onvif": {"host": "h", "record_profile": "main"}},
                                      "record_source": "rtsp://h/main"})


def test_onvif_source_records_its_main_profile_by_default():
    p = CameraProfile.model_validate({"id": "c", "source": {"onvif": {"host": "h", "port": 8080}}})
    assert p.onvif.profile is None                      # detection: the sub stream (picked at connect)
    rec = p.record_stream
    assert isinstance(rec, OnvifRef) and rec.onvif.profile == "main" and rec.onvif.port == 8080
    assert rec.onvif.events is False                   # one event subscription per camera, not two
    named = CameraProfile.model_validate({"id": "c", "source": {"onvif": {"host": "h", "record_profile": "hd"}}})
    assert named.record_stream.onvif.profile == "hd"


def test_onvif_record_source_without_profile_means_main():
    p = _profile(record_source={"onvif": {"host": "10.0.0.5"}})
    assert p.record_stream.onvif.profile == "main"


def test_detection_takes_the_smallest_profile_at_least_320_wide():
    assert pick_detect_profile([MAIN, SUB, TINY]) == SUB
    assert pick_detect_profile([TINY, MAIN]) == MAIN          # too narrow to detect on: the main one
    assert pick_detect_profile([MAIN]) == MAIN                # one profile: the fallback
    assert pick_profile([MAIN, SUB], None) == SUB            # no profile named in the camera profile
    assert pick_profile([MAIN, SUB], "main") == MAIN         # an explicit profile keeps its meaning
    assert pick_profile([MAIN, SUB, TINY], "sub") == SUB
    with pytest.raises(OnvifError):
        pick_detect_profile([])
