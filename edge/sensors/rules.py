"""Sensor rule evaluation: pure functions over plain-data state, time passed in.

Per rule, a small state machine: idle -> pending (condition holds, waiting `for_s`) ->
active (alert raised) -> idle (condition cleared; a "clear" event when `publish_clear`).
- `equals`: holds while the field equals the value (smoke, water_leak, contact, tilt).
- `above X` / `clear_below C`: raises once the value is > X (for `for_s` s), clears once < C
  (C defaults to X; C < X is hysteresis: between C and X the rule keeps its state, but a
  pending duration restarts, since the value was not above X all along).
- `below X` / `clear_above C`: the mirror image (battery, oxygen...).
- `rises_by D` / `falls_by D` within `within_s`: rate of change over the recent readings.
- `active_hours "HH:MM-HH:MM"` (local, `timezone`): the rule only raises inside those hours
  ("door open outside opening hours"); once raised it clears by value only.
Offline: when nothing arrives for `offline_after_s` (bridge clock), or the source reports
"offline" for longer than `offline_debounce_s`, one `sensor.offline`; the next message clears it.

A clear is reported as an alert of the same type with `details.cleared = true`, severity
`info`, and `details.raised_id` = the id of the alert it clears (see bridge.py).

Two clocks: sensor time (`Reading.ts`, used for durations and alert times) and the bridge's
clock (`Reading.received`, `now` in `tick`, used for offline). `tick` projects sensor time as
now + (last ts - last received), so a sensor that reports only on change still completes its
`for_s` between messages.

The state of one sensor is a JSON-able dict (see `new_state`), persisted after every message.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from alerts.schema import AlertType, Severity
from edge.sensors.config import Rule, SensorConfig
from edge.sensors.sources import Reading

MAX_KEYS = 200       # idempotency keys remembered per sensor (duplicate uplinks come within minutes)
OFFLINE = "offline"  # rule id of the offline watch


@dataclass(frozen=True)
class Event:
    """A raise or a clear, ready to become an alert."""
    sensor_id: str
    rule_id: str
    type: AlertType
    severity: Severity
    ts: float            # when it happened (sensor time; bridge clock for offline)
    episode: str         # stable seed of this episode: the same input gives the same alert id
    start_ts: float      # when the episode began (the alert id's time part)
    cleared: bool = False
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    state: dict[str, Any]
    events: list[Event]
    duplicate: bool = False
    stale: bool = False
    problems: list[str] = field(default_factory=list)   # fields of the wrong type, skipped


def new_state() -> dict[str, Any]:
    return {"last_received": None, "last_ts": None, "offset": 0.0, "watch_from": None,
            "values": {}, "keys": [], "rules": {},
            "offline": {"raised": False, "reported_at": None, "episode": None, "start": None}}


def _rule_state(state: dict[str, Any], rule: Rule) -> dict[str, Any]:
    return state["rules"].setdefault(rule.rule_id, {"active": False, "since": None, "episode": None,
                                                    "start": None, "samples": []})


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):   # old Zigbee2MQTT converters send "87.00"
        try:
            return float(v)
        except ValueError:
            return None
    return None


def check_value(rule: Rule, v: Any) -> str | None:
    """Why `v` cannot be evaluated by `rule`, or None when it can."""
    if rule.kind == "equals":
        if isinstance(rule.equals, bool) and not isinstance(v, bool):
            if not (isinstance(v, str) and v.upper() in ("ON", "OFF", "TRUE", "FALSE")):
                return f"{rule.field}: expected a boolean, got {v!r}"
        return None
    if _number(v) is None:
        return f"{rule.field}: expected a number, got {v!r}"
    return None


def _equals(rule: Rule, v: Any) -> bool:
    if isinstance(rule.equals, bool) and isinstance(v, str):
        return (v.upper() in ("ON", "TRUE")) == rule.equals
    if isinstance(rule.equals, (int, float)) and not isinstance(rule.equals, bool):
        return _number(v) == float(rule.equals)
    return v == rule.equals


def _in_hours(rule: Rule, ts: float, tz: ZoneInfo) -> bool:
    if rule.active_hours is None:
        return True
    start, end = rule.active_hours.split("-")
    t = datetime.fromtimestamp(ts, UTC).astimezone(tz).strftime("%H:%M")
    return start <= t < end if start <= end else (t >= start or t < end)


def _condition(rule: Rule, rs: dict[str, Any], v: Any, ts: float) -> tuple[bool, bool]:
    """(raises, clears) for value v at time ts; both False inside a hysteresis band."""
    k = rule.kind
    if k == "equals":
        on = _equals(rule, v)
        return on, not on
    x = _number(v)
    if k == "above":
        return x > rule.above, x < (rule.above if rule.clear_below is None else rule.clear_below)
    if k == "below":
        return x < rule.below, x > (rule.below if rule.clear_above is None else rule.clear_above)
    past = [s for t, s in rs["samples"] if ts - t <= rule.within_s]
    if not past:
        return False, True
    change = x - min(past) if k == "rises_by" else max(past) - x
    limit = rule.rises_by if k == "rises_by" else rule.falls_by
    return change >= limit, change < limit


def _step(sensor: SensorConfig, rule: Rule, rs: dict[str, Any], v: Any, ts: float, key: str | None,
          tz: ZoneInfo, from_reading: bool) -> list[Event]:
    raises, clears = _condition(rule, rs, v, ts)
    if from_reading and rule.kind in ("rises_by", "falls_by"):
        # Keep only samples that can still be the window's extreme (a monotonic queue): one that
        # is older and not lower (rises_by) / not higher (falls_by) than the new one never will.
        x, rising = _number(v), rule.kind == "rises_by"
        kept = [[t, s] for t, s in rs["samples"] if ts - t <= rule.within_s]
        while kept and (kept[-1][1] >= x if rising else kept[-1][1] <= x):
            kept.pop()
        rs["samples"] = kept + [[ts, x]]
    details = {"field": rule.field, "value": v, "rule": rule.rule_id, "condition": {rule.kind: getattr(rule, rule.kind)}}
    if rs["active"]:
        if clears:
            rs.update(active=False, since=None)
            return [Event(sensor.id, rule.rule_id, rule.type, Severity.info, ts, rs["episode"], rs["start"],
                          cleared=True, details=details)]
        return []
    if not raises or not _in_hours(rule, ts, tz):
        rs["since"] = None
        return []
    if rs["since"] is None:
        rs["since"] = ts
        rs["episode"] = key if key is not None else f"t{ts:.3f}"
        rs["start"] = ts
    if ts - rs["since"] < rule.for_s:
        return []
    rs["active"] = True
    if rule.for_s:
        details["for_s"] = rule.for_s
    return [Event(sensor.id, rule.rule_id, rule.type, rule.severity, ts, rs["episode"], rs["start"], details=details)]


def _back_online(sensor: SensorConfig, state: dict[str, Any], now: float) -> list[Event]:
    off = state["offline"]
    off["reported_at"] = None
    if not off["raised"]:
        return []
    off["raised"] = False
    return [Event(sensor.id, OFFLINE, AlertType.sensor_offline, Severity.info, now, off["episode"], off["start"],
                  cleared=True, details={})]


def apply_reading(sensor: SensorConfig, state: dict[str, Any], reading: Reading, tz: ZoneInfo) -> Outcome:
    """Evaluate one message of the sensor; returns the new state and the events it causes."""
    state = copy.deepcopy(state)
    if reading.key is not None and reading.key in state["keys"]:
        return Outcome(state, [], duplicate=True)
    if reading.key is not None:
        state["keys"] = (state["keys"] + [reading.key])[-MAX_KEYS:]
    state["last_received"] = reading.received
    if reading.availability == "offline":
        if state["offline"]["reported_at"] is None and not state["offline"]["raised"]:
            state["offline"]["reported_at"] = reading.received
        return Outcome(state, [])
    events = _back_online(sensor, state, reading.received)
    if not reading.values:
        return Outcome(state, events)
    if state["last_ts"] is not None and reading.ts < state["last_ts"]:
        return Outcome(state, events, stale=True)   # out of order: durations would run backwards
    state["last_ts"] = reading.ts
    state["offset"] = reading.ts - reading.received
    problems = []
    for rule in sensor.rules:
        if rule.field not in reading.values:
            continue
        v = reading.values[rule.field]
        why = check_value(rule, v)
        if why:
            problems.append(why)
            continue
        state["values"][rule.field] = v
        events += _step(sensor, rule, _rule_state(state, rule), v, reading.ts, reading.key, tz, True)
    return Outcome(state, events, problems=problems)


def start_watch(state: dict[str, Any], now: float) -> dict[str, Any]:
    """At bridge start: the bridge cannot tell a sensor's silence from its own downtime, so the
    offline clock restarts now (an offline already raised stays raised: never raised twice)."""
    state = copy.deepcopy(state)
    state["watch_from"] = now
    return state


def tick(sensor: SensorConfig, state: dict[str, Any], now: float, tz: ZoneInfo) -> Outcome:
    """Advance time without a message: offline detection, and `for_s` / `active_hours`
    completing on the last known value."""
    state = copy.deepcopy(state)
    events: list[Event] = []
    off = state["offline"]
    if not off["raised"]:
        marks = [x for x in (state["last_received"], state["watch_from"]) if x is not None]
        heard = max(marks) if marks else now
        silent = now - heard >= sensor.offline_s
        reported = off["reported_at"] is not None and now - off["reported_at"] >= sensor.offline_debounce_s
        if silent or reported:
            since = off["reported_at"] if reported else heard
            off.update(raised=True, reported_at=None, start=since, episode=f"offline@{since:.3f}")
            events.append(Event(sensor.id, OFFLINE, AlertType.sensor_offline, Severity.major, now, off["episode"],
                                since, details={"silent_s": round(now - heard, 1),
                                                "reason": "reported offline" if reported else "no message"}))
    if state["last_ts"] is not None:
        ts = now + state["offset"]
        for rule in sensor.rules:
            rs = state["rules"].get(rule.rule_id)
            if rule.field not in state["values"] or rule.kind in ("rises_by", "falls_by") or rs is None:
                continue
            if rs["active"] or (rs["since"] is None and rule.active_hours is None):
                continue   # only a pending duration or an opening time window can change without a message
            events += _step(sensor, rule, rs, state["values"][rule.field], ts, None, tz, False)
    return Outcome(state, events)
