"""Routing rules: which level opens an incident, which professional grid also gets it, and
which deadlines apply, by alert type, severity, grid and local time of day. The first
matching rule wins; built-in defaults apply when no rules file is given."""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import yaml

from gateway.engine import categories as categories_mod
from gateway.engine.calendar import CALENDAR_TIME, CalendarTime, WorkCalendar
from gateway.engine.grids import LEVELS, GridSet

SEVERITIES = ("info", "minor", "major", "critical")


@dataclass(frozen=True)
class Route:
    level: str  # the level that opens the incident
    grid_id: str | None  # the grid at that level (None when the alert is outside every grid)
    cell_grid_id: str | None  # the grid where it happened (the deepest one)
    professional_grid_id: str | None
    ack_within: timedelta
    resolve_within: timedelta
    calendar: str  # 'working' | 'calendar'
    rule: str


@dataclass(frozen=True)
class Rule:
    """One routing rule. Matchers left empty match anything; `types` and `grids` accept
    shell patterns ('tamper.*', 'G-03-*'; a grid pattern also matches any ancestor, so
    'C-03' covers every grid in that community)."""

    name: str
    types: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    min_severity: str | None = None
    grids: tuple[str, ...] = ()
    sensor_kinds: tuple[str, ...] = ()
    between: tuple[time, time] | None = None  # local time of day; may wrap past midnight
    level: str = "grid"
    professional: str | None = None  # the category a professional grid must take
    ack_within: timedelta = timedelta(minutes=30)
    resolve_within: timedelta = timedelta(hours=4)
    calendar: str = "calendar"

    def matches(self, grids: GridSet | None, *, alert_type: str, severity: str, grid_id: str | None,
                local_time: time, sensor_kind: str | None) -> bool:
        if self.types and not any(fnmatch.fnmatchcase(alert_type, p) for p in self.types):
            return False
        if self.severities and severity not in self.severities:
            return False
        if self.min_severity and _rank(severity) < _rank(self.min_severity):
            return False
        if self.sensor_kinds and sensor_kind not in self.sensor_kinds:
            return False
        if self.grids:
            chain = [grid_id] if grid_id else []
            if grids is not None and grid_id:
                chain += [g.id for g in grids.ancestors(grid_id)]
            if not any(fnmatch.fnmatchcase(g, p) for g in chain for p in self.grids):
                return False
        if self.between:
            start, end = self.between
            inside = start <= local_time < end if start <= end else (local_time >= start or local_time < end)
            if not inside:
                return False
        return True


# Sensible without any file: small matters stay in the grid, bigger ones go to the community.
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("smoke-to-fire-safety", types=("sensor.alarm",), sensor_kinds=("smoke", "heat", "fire"),
         level="community", professional="fire", ack_within=timedelta(minutes=5),
         resolve_within=timedelta(hours=1)),
    Rule("falling-object-critical", types=("falling_object",), min_severity="critical", level="community",
         ack_within=timedelta(minutes=5), resolve_within=timedelta(hours=2)),
    Rule("critical", min_severity="critical", level="community",
         ack_within=timedelta(minutes=10), resolve_within=timedelta(hours=2)),
    Rule("major", min_severity="major", level="grid",
         ack_within=timedelta(minutes=30), resolve_within=timedelta(hours=8)),
    Rule("minor", level="grid", ack_within=timedelta(hours=4), resolve_within=timedelta(days=3)),
)


class RoutingError(ValueError):
    pass


@dataclass(frozen=True)
class RoutingRules:
    rules: tuple[Rule, ...] = DEFAULT_RULES
    work_calendar: WorkCalendar | None = None
    tz: str = "UTC"  # the zone of `between` and of displayed times
    categories: tuple[categories_mod.Category, ...] = ()  # what people may report; () = the built-in list

    def calendar_for(self, kind: str) -> WorkCalendar | CalendarTime:
        """The calendar that computes deadlines of this kind ('working' or 'calendar')."""
        if kind == "working" and self.work_calendar is not None:
            return self.work_calendar
        return CALENDAR_TIME

    @classmethod
    def from_yaml(cls, text: str) -> "RoutingRules":
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise RoutingError(f"routing rules are not valid YAML: {e}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RoutingRules":
        if not isinstance(data, dict):
            raise RoutingError("routing rules must be a mapping with 'rules' (and optionally 'calendar')")
        cal = None
        if data.get("calendar"):
            try:
                cal = WorkCalendar.from_dict(data["calendar"])
            except (ValueError, KeyError, TypeError) as e:
                raise RoutingError(f"calendar: {e}") from None
        rules = [_rule(r, n) for n, r in enumerate(data.get("rules") or [])]
        for r in rules:
            if r.calendar == "working" and cal is None:
                raise RoutingError(f"rule {r.name!r}: calendar 'working' needs a 'calendar' section")
        if data.get("defaults", True):
            rules += list(DEFAULT_RULES)  # catch-alls after the file's own rules
        tz = (data.get("calendar") or {}).get("tz") or data.get("tz") or "UTC"
        try:
            cats = categories_mod.parse(data["categories"]) if "categories" in data else ()
        except categories_mod.CategoryError as e:
            raise RoutingError(str(e)) from None
        return cls(rules=tuple(rules), work_calendar=cal, tz=tz, categories=cats)


def unrouted() -> Route:
    """The unrouted queue (outside every grid): the street command centre answers, on calendar time."""
    return Route(level="street", grid_id=None, cell_grid_id=None, professional_grid_id=None,
                 ack_within=timedelta(hours=1), resolve_within=timedelta(hours=24), calendar="calendar", rule="unrouted")


def route(rules: RoutingRules, grids: GridSet | None, *, alert_type: str, severity: str,
          grid_id: str | None, local_time: time | datetime, sensor_kind: str | None = None,
          lat: float | None = None, lon: float | None = None) -> Route:
    """Decide where an incident opens. `grid_id` is the cell where the alert happened;
    `local_time` is the local time of day (a datetime is reduced to its time); `lat`/`lon`
    locate the professional grid (else the cell's centroid is used)."""
    t = local_time.timetz().replace(tzinfo=None) if isinstance(local_time, datetime) else local_time
    for rule in rules.rules:
        if rule.matches(grids, alert_type=alert_type, severity=severity, grid_id=grid_id,
                        local_time=t, sensor_kind=sensor_kind):
            break
    else:  # only reachable with defaults disabled and no catch-all
        raise RoutingError(f"no routing rule matches {alert_type}/{severity} in {grid_id}")
    level_grid = grids.at_level(grid_id, rule.level) if grids is not None else None
    level = rule.level
    cell = grids.get(grid_id) if grids is not None else None
    if level_grid is None and cell is not None:
        level_grid = cell  # the cell sits above the wanted level: it is its own owner
        level = cell.level
    professional = None
    if rule.professional and grids is not None:
        if lat is None or lon is None:
            cell = grids.get(grid_id)
            if cell is not None:
                p = cell.geometry.representative_point()
                lon, lat = p.x, p.y
        if lat is not None and lon is not None:
            g = grids.professional_for(lat, lon, rule.professional)
            professional = g.id if g else None
    return Route(level=level, grid_id=level_grid.id if level_grid else None, cell_grid_id=grid_id,
                 professional_grid_id=professional, ack_within=rule.ack_within,
                 resolve_within=rule.resolve_within, calendar=rule.calendar, rule=rule.name)


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def _list(v: Any) -> tuple[str, ...]:
    if v is None:
        return ()
    return tuple(str(x) for x in (v if isinstance(v, list) else [v]))


def _duration(v: Any, where: str) -> timedelta:
    """'90s', '30m', '4h', '3d' or a number of minutes."""
    if isinstance(v, (int, float)):
        return timedelta(minutes=v)
    s = str(v).strip().lower()
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    try:
        return timedelta(**{units[s[-1]]: float(s[:-1])})
    except (KeyError, ValueError, IndexError):
        raise RoutingError(f"{where}: {v!r} is not a duration like '30m', '4h' or '3d'") from None


def _rule(d: Any, n: int) -> Rule:
    if not isinstance(d, dict):
        raise RoutingError(f"rule #{n}: must be a mapping")
    name = str(d.get("name") or f"rule-{n}")
    known = {"name", "type", "types", "severity", "severities", "min_severity", "grid", "grids",
             "sensor_kind", "sensor_kinds", "between", "level", "professional", "ack_within",
             "resolve_within", "calendar"}
    unknown = set(d) - known
    if unknown:
        raise RoutingError(f"rule {name!r}: unknown field(s) {', '.join(sorted(unknown))}")
    level = d.get("level", "grid")
    if level not in LEVELS:
        raise RoutingError(f"rule {name!r}: level {level!r} is not one of {', '.join(LEVELS)}")
    sev = _list(d.get("severities", d.get("severity")))
    for s in sev + _list(d.get("min_severity")):
        if s not in SEVERITIES:
            raise RoutingError(f"rule {name!r}: severity {s!r} is not one of {', '.join(SEVERITIES)}")
    calendar = d.get("calendar", "calendar")
    if calendar not in ("working", "calendar"):
        raise RoutingError(f"rule {name!r}: calendar must be 'working' or 'calendar', not {calendar!r}")
    between = None
    if d.get("between"):
        try:
            a, b = str(d["between"]).split("-")
            between = (time.fromisoformat(a.strip()), time.fromisoformat(b.strip()))
        except ValueError:
            raise RoutingError(f"rule {name!r}: between must look like '22:00-06:00'") from None
    return Rule(name=name, types=_list(d.get("types", d.get("type"))), severities=sev,
                min_severity=d.get("min_severity"), grids=_list(d.get("grids", d.get("grid"))),
                sensor_kinds=_list(d.get("sensor_kinds", d.get("sensor_kind"))), between=between,
                level=level, professional=d.get("professional"),
                ack_within=_duration(d.get("ack_within", "30m"), f"rule {name!r} ack_within"),
                resolve_within=_duration(d.get("resolve_within", "4h"), f"rule {name!r} resolve_within"),
                calendar=calendar)
