"""Routing rules: defaults, the example file, time-of-day windows, grid patterns, errors."""
import json
import re
from datetime import time, timedelta
from pathlib import Path

import pytest

from gateway.engine.grids import GridSet
from gateway.engine.routing import RoutingError, RoutingRules, route

pytestmark = pytest.mark.quick  # no service: `make test-quick`

EXAMPLES = Path(__file__).resolve().parents[1] / "gateway" / "examples"


@pytest.fixture(scope="module")
def grids():
    return GridSet.from_geojson(json.loads((EXAMPLES / "grids.geojson").read_text()))


@pytest.fixture(scope="module")
def example_rules():
    return RoutingRules.from_yaml((EXAMPLES / "routing.yaml").read_text())


def go(rules, grids, type, severity, grid="G-03-07", at=time(10, 0), **kw):
    return route(rules, grids, alert_type=type, severity=severity, grid_id=grid, local_time=at, **kw)


def test_defaults_keep_small_matters_in_the_grid(grids):
    r = go(RoutingRules(), grids, "intrusion", "major")
    assert (r.level, r.grid_id, r.cell_grid_id, r.professional_grid_id) == ("grid", "G-03-07", "G-03-07", None)
    r = go(RoutingRules(), grids, "falling_object", "critical")
    assert (r.level, r.grid_id, r.rule) == ("community", "C-03", "falling-object-critical")
    r = go(RoutingRules(), grids, "sensor.alarm", "critical", grid="G-04-01", sensor_kind="smoke")
    assert (r.level, r.grid_id, r.professional_grid_id) == ("community", "C-04", "P-FIRE-01")
    r = go(RoutingRules(), grids, "sensor.alarm", "critical", grid="G-04-01", sensor_kind="water_level")
    assert r.professional_grid_id is None and r.rule == "critical"


def test_example_file_minor_runs_on_office_hours(grids, example_rules):
    r = go(example_rules, grids, "loitering", "minor")
    assert (r.level, r.calendar, r.ack_within, r.resolve_within) == ("grid", "working", timedelta(hours=4),
                                                                     timedelta(hours=15))
    assert example_rules.calendar_for("working") is example_rules.work_calendar
    assert example_rules.work_calendar.tz == example_rules.tz == "Asia/Shanghai"
    assert go(example_rules, grids, "intrusion", "major").calendar == "calendar"


def test_time_of_day_window_wraps_past_midnight(grids, example_rules):
    night = [go(example_rules, grids, "tamper.covered", "major", at=time(h, 0)).level for h in (23, 3, 6)]
    day = [go(example_rules, grids, "tamper.covered", "major", at=time(h, 0)).level for h in (7, 12, 21)]
    assert night == ["community"] * 3 and day == ["grid"] * 3


def test_grid_patterns_match_ancestors(grids):
    rules = RoutingRules.from_dict({"rules": [
        {"name": "c04-strict", "grid": "C-04", "type": "intrusion", "level": "community", "ack_within": "5m"}]})
    assert go(rules, grids, "intrusion", "minor", grid="G-04-02").rule == "c04-strict"
    assert go(rules, grids, "intrusion", "minor", grid="G-03-07").rule == "minor"


def test_outside_every_grid_still_routes(grids):
    r = go(RoutingRules(), grids, "intrusion", "major", grid=None)
    assert r.grid_id is None and r.level == "grid"


@pytest.mark.parametrize("data, message", [
    ({"rules": [{"name": "x", "level": "district"}]}, "level 'district'"),
    ({"rules": [{"name": "x", "severity": "huge"}]}, "severity 'huge'"),
    ({"rules": [{"name": "x", "ack_within": "soon"}]}, "'soon' is not a duration"),
    ({"rules": [{"name": "x", "calendar": "working"}]}, "needs a 'calendar' section"),
    ({"rules": [{"name": "x", "colour": "red"}]}, "unknown field(s) colour"),
    ({"rules": [{"name": "x", "between": "late"}]}, "between must look like"),
    ({"calendar": {"tz": "Nowhere/Land", "hours": {"mon": ["09:00-17:00"]}}}, "calendar:"),
    ({"categories": {"garbage": "x"}}, "categories: must be a list"),
    ({"categories": [{"code": "Pot Holes", "name": "x"}]}, "categories[0].code: 'Pot Holes'"),
    ({"categories": [{"code": "a", "name": ""}]}, "category 'a'.name: must be a text or a mapping"),
    ({"categories": [{"code": "a", "name": "x", "severity": "loud"}]}, "category 'a'.severity: 'loud'"),
    ({"categories": [{"code": "a", "name": "x"}, {"code": "a", "name": "y"}]}, "category 'a': listed twice"),
    ({"categories": [{"code": "a", "name": "x", "colour": "red"}]}, "categories[0]: unknown field(s) colour"),
])
def test_bad_rules_name_the_rule_and_the_reason(data, message):
    with pytest.raises(RoutingError, match=re.escape(message)):
        RoutingRules.from_dict(data)


def test_not_yaml():
    with pytest.raises(RoutingError, match="not valid YAML"):
        RoutingRules.from_yaml("rules: [unclosed")


def test_report_categories_come_with_the_rules_that_route_them(grids):
    rules = RoutingRules.from_yaml("""
categories:
  - {code: pothole, name: {zh-CN: 路面坑洼, en: Pothole}, group: streets, severity: major}
  - {code: dumping, name: Garbage piled up}
rules:
  - {name: potholes-to-community, type: report.pothole, level: community}
""")
    pothole, dumping = rules.categories
    assert (pothole.alert_type, pothole.severity, dumping.severity) == ("report.pothole", "major", "minor")
    assert (pothole.name_in("zh-CN"), pothole.name_in("en-GB"), dumping.name_in("en")) == ("路面坑洼", "Pothole", None)
    assert go(rules, grids, pothole.alert_type, pothole.severity, grid="G-03-07").level == "community"
    assert RoutingRules.from_dict({"rules": []}).categories == ()  # the built-in list applies
