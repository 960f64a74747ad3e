"""Figures per grid and period over incident records (IncidentState objects or plain dicts
with the same field names, times as datetimes or ISO strings): counts by type and level,
time to acknowledge and to resolve (median, p90), on-time closure rate, reopen rate and
false-alarm rate per camera, satisfaction of the cases people reported; as dicts (JSON) and CSV (the printable report, in
the reader's language, is gateway.api.figures_report)."""
from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.engine.grids import GridSet

FIELDS = ("grid_id", "start", "end", "incidents", "cases_due", "closed_on_time", "on_time_closure_rate",
          "ack_median_s", "ack_p90_s", "resolve_median_s", "resolve_p90_s", "escalated", "reopened",
          "reopen_rate", "false_alarms", "false_alarm_rate", "rated", "satisfaction_rate")
SATISFIED = ("satisfied", "basically_satisfied")  # what the street office counts as satisfied


def _get(rec: Any, name: str) -> Any:
    v = rec.get(name) if isinstance(rec, dict) else getattr(rec, name, None)
    if isinstance(v, str) and name.endswith("_at"):
        v = datetime.fromisoformat(v.replace("Z", "+00:00"))
    return v


def period(day: date, kind: str, tz: str) -> tuple[datetime, datetime]:
    """The UTC bounds of a local 'daily' period (that day) or 'weekly' one (Monday to Monday)."""
    if kind == "weekly":
        day -= timedelta(days=day.weekday())
    elif kind != "daily":
        raise ValueError(f"period kind must be 'daily' or 'weekly', not {kind!r}")
    zone = ZoneInfo(tz)
    end_day = day + timedelta(days=7 if kind == "weekly" else 1)
    return (datetime.combine(day, time(), zone).astimezone(UTC),
            datetime.combine(end_day, time(), zone).astimezone(UTC))


def _stats(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    if len(values) == 1:
        return values[0], values[0]
    return statistics.median(values), statistics.quantiles(values, n=10, method="inclusive")[8]


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _counted(rec: Any) -> bool:
    return _get(rec, "merged_into") is None  # a merged incident lives on in its target


def on_time(rec: Any) -> bool:
    """Resolved before its deadline without ever missing one, and since verified or closed."""
    resolved, due = _get(rec, "resolved_at"), _get(rec, "due_at")
    return (_get(rec, "status") in ("verified", "closed") and not _get(rec, "resolve_missed")
            and resolved is not None and due is not None and resolved <= due)


def settled(rec: Any, now: datetime) -> bool:
    """Whether a case counts for on-time closure at `now`: closed (verified or closed), or past its
    deadline (missed once, or still open after it). A case open and not yet due is neither."""
    due = _get(rec, "due_at")
    return (_get(rec, "status") in ("verified", "closed") or bool(_get(rec, "resolve_missed"))
            or (due is not None and due <= now))


def summarise(incidents: Iterable[Any], start: datetime, end: datetime, grid_id: str | None = None,
              cells: set[str] | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Figures for incidents that happened in `cells` (all when None). Counts and times cover
    incidents opened in [start, end); the on-time closure rate covers cases due in it that are
    settled at `now` (default: the end of the period)."""
    now = end if now is None else now
    recs = [r for r in incidents if _counted(r) and (cells is None or _get(r, "grid_id") in cells)]
    opened = [r for r in recs if start <= _get(r, "opened_at") < end]
    due = [r for r in recs if _get(r, "status") != "dismissed" and _get(r, "due_at") is not None
           and start <= _get(r, "due_at") < end and settled(r, now)]
    ack = [(_get(r, "acknowledged_at") - _get(r, "opened_at")).total_seconds()
           for r in opened if _get(r, "acknowledged_at")]
    res = [(_get(r, "resolved_at") - _get(r, "opened_at")).total_seconds()
           for r in opened if _get(r, "resolved_at")]
    ever_resolved = [r for r in opened if _get(r, "resolved_at") or (_get(r, "reopen_count") or 0) > 0]
    reopened = sum(1 for r in opened if (_get(r, "reopen_count") or 0) > 0)
    false_alarms = [r for r in opened if _get(r, "status") == "dismissed" and _get(r, "false_alarm")]
    false_ids = {id(r) for r in false_alarms}
    cams: dict[str, dict[str, Any]] = {}
    for r in opened:
        cam = _get(r, "camera_id") or _get(r, "source_id")
        if cam:
            c = cams.setdefault(cam, {"incidents": 0, "false_alarms": 0, "rules": Counter()})
            c["incidents"] += 1
            if id(r) in false_ids:
                c["false_alarms"] += 1
                c["rules"][_get(r, "rule") or "?"] += 1
    for c in cams.values():
        c["rate"] = _rate(c["false_alarms"], c["incidents"])
        c["rules"] = dict(c["rules"])  # false alarms per routing rule, to tune detectors
    ack_med, ack_p90 = _stats(ack)
    res_med, res_p90 = _stats(res)
    closed_on_time = sum(1 for r in due if on_time(r))
    rated = [r for r in opened if _get(r, "satisfaction")]  # the last rating of each reported case
    return {
        "grid_id": grid_id, "start": start.isoformat(), "end": end.isoformat(),
        "incidents": len(opened),
        "by_type": dict(Counter(_get(r, "type") for r in opened)),
        "by_level": dict(Counter(_get(r, "level") for r in opened)),
        "by_status": dict(Counter(_get(r, "status") for r in opened)),
        "ack_median_s": ack_med, "ack_p90_s": ack_p90, "resolve_median_s": res_med, "resolve_p90_s": res_p90,
        "cases_due": len(due), "closed_on_time": closed_on_time,
        "on_time_closure_rate": _rate(closed_on_time, len(due)),
        "escalated": sum(1 for r in opened if (_get(r, "escalations") or 0) > 0),
        "reopened": reopened, "reopen_rate": _rate(reopened, len(ever_resolved)),
        "false_alarms": len(false_alarms), "false_alarm_rate": _rate(len(false_alarms), len(opened)),
        "rated": len(rated), "satisfaction_rate": _rate(sum(1 for r in rated if _get(r, "satisfaction") in SATISFIED),
                                                        len(rated)),
        "cameras": cams,
    }


def by_grid(incidents: Iterable[Any], grids: GridSet, start: datetime, end: datetime,
            level: str = "grid", now: datetime | None = None) -> list[dict[str, Any]]:
    """One `summarise` per admin grid at `level` (an incident counts for the grid it
    happened in and all grids above), plus a last row for the whole set (grid_id None)."""
    incidents = list(incidents)
    rows = [summarise(incidents, start, end, g.id, grids.subtree(g.id), now)
            for g in sorted(grids, key=lambda g: g.id) if g.level == level and g.kind == "admin"]
    return rows + [summarise(incidents, start, end, None, None, now)]


def to_csv(rows: Iterable[dict[str, Any]]) -> str:
    """The per-grid figures as CSV (one row per grid, columns FIELDS)."""
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in FIELDS})
    return out.getvalue()


def cameras_to_csv(row: dict[str, Any]) -> str:
    """The false-alarm figures per camera of one `summarise` row as CSV."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["camera_id", "incidents", "false_alarms", "false_alarm_rate"])
    for cam, c in sorted(row["cameras"].items()):
        w.writerow([cam, c["incidents"], c["false_alarms"], c["rate"]])
    return out.getvalue()


