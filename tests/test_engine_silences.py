"""Silences and maintenance windows: matchers, the subtree of a grid, start and end times,
and refusal of silences that would match nothing or everything."""
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.engine.grids import GridSet
from gateway.engine.silences import Silence, is_silenced

pytestmark = pytest.mark.quick  # no service: `make test-quick`

GRIDS = GridSet.from_geojson(json.loads(
    (Path(__file__).resolve().parents[1] / "gateway" / "examples" / "grids.geojson").read_text()))
T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def silence(**kw):
    base = dict(starts_at=T0, ends_at=T0 + timedelta(hours=2), reason="works", created_by="op.li")
    return Silence(**{**base, **kw})


LAWN = {"camera_id": "cam-lawn-01", "source_id": "cam-lawn-01", "grid_id": "G-03-07", "type": "intrusion"}


def test_grid_silence_covers_its_subtree_only():
    s = [silence(grid_id="C-03")]
    assert is_silenced(s, LAWN, T0, GRIDS.subtree) is s[0]
    assert is_silenced(s, {**LAWN, "grid_id": "G-04-01"}, T0, GRIDS.subtree) is None
    assert is_silenced(s, LAWN, T0) is None  # without the hierarchy only C-03 itself matches


def test_window_is_start_inclusive_end_exclusive():
    s = [silence(camera_id="cam-lawn-01")]
    assert is_silenced(s, LAWN, T0 - timedelta(seconds=1)) is None
    assert is_silenced(s, LAWN, T0) is s[0]
    assert is_silenced(s, LAWN, T0 + timedelta(hours=2)) is None


def test_all_matchers_must_match_and_types_take_patterns():
    s = [silence(camera_id="cam-lawn-01", type="tamper.*", kind="maintenance")]
    assert is_silenced(s, {**LAWN, "type": "tamper.defocus"}, T0) is s[0]
    assert is_silenced(s, LAWN, T0) is None
    assert is_silenced(s, {**LAWN, "camera_id": "cam-gate-02", "source_id": "cam-gate-02",
                           "type": "tamper.covered"}, T0) is None
    sensor = [silence(camera_id="smoke-b3-201")]  # a sensor is matched by its source id
    assert is_silenced(sensor, {"source_id": "smoke-b3-201", "type": "sensor.alarm", "grid_id": "G-03-07"}, T0)


@pytest.mark.parametrize("kw, message", [
    ({}, "at least one of camera_id, grid_id, type"),
    ({"type": "motion", "ends_at": T0}, "ends"),
    ({"type": "motion", "reason": " "}, "needs a reason"),
    ({"type": "motion", "kind": "forever"}, "kind 'forever'"),
    ({"type": "motion", "starts_at": datetime(2026, 11, 23)}, "time zone"),
])
def test_bad_silences_are_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        silence(**kw)
