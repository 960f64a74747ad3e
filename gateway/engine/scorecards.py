"""Scorecards: the street office's monthly assessment of each grid worker, grid, community and
street, computed from the incident events themselves (the timeline: no second bookkeeping).
Each event carries the incident as it was then (`incident`), so a score never depends on what
happened to the case afterwards. For a period [start, end):
- found: cases a worker found on patrol (opened with `channel: patrol`), by reporter and place;
- received: cases dispatched to a worker (each dispatch counts), or opened in a grid;
- on_time_handling_rate: of the cases resolved in the period, those resolved by their deadline;
- on_time_closure_rate: of the cases closed in the period (each once: its last closing), those
  resolved by their deadline;
- escalations: deadlines missed that sent a case up (to whom it was with then, and its grid);
- reopenings: cases sent back (to whom had resolved them, and the grid);
- satisfaction_rate: of the cases rated, the last rating satisfied or basically satisfied;
- mean_dispatch_s / mean_close_s: from filing to the first dispatch / to closing.
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.engine.grids import GridSet

KINDS = ("worker", "grid", "community", "street")
FIELDS = ("kind", "id", "name", "found", "received", "resolved", "on_time_handling_rate", "closed",
          "on_time_closure_rate", "escalations", "reopenings", "rated", "satisfaction_rate",
          "mean_dispatch_s", "mean_close_s")
SATISFIED = ("satisfied", "basically_satisfied")


@dataclass
class _Score:
    found: int = 0
    received: int = 0
    resolved: int = 0
    resolved_on_time: int = 0
    closures: dict[int, tuple[bool, float | None]] = field(default_factory=dict)  # incident -> its last closing
    escalations: int = 0
    reopenings: int = 0
    ratings: dict[int, str] = field(default_factory=dict)  # incident -> its last rating
    dispatch_s: list[float] = field(default_factory=list)


def _time(v: Any) -> datetime | None:
    if v is None or isinstance(v, datetime):
        return v
    return datetime.fromisoformat(str(v).replace("Z", "+00:00"))


def _on_time(inc: dict[str, Any]) -> bool:
    resolved, due = _time(inc.get("resolved_at")), _time(inc.get("due_at"))
    return resolved is not None and due is not None and resolved <= due


def scorecards(events: Iterable[dict[str, Any]], grids: GridSet, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """`events`: {incident_id, event, at, actor, data} in timeline order, `data["incident"]` the
    incident as of the event. Returns one row per worker, grid, community and street with cases."""
    scores: dict[tuple[str, str], _Score] = defaultdict(_Score)
    holder: dict[int, str | None] = {}     # incident -> whom it is with (from the events so far)
    resolver: dict[int, str] = {}          # incident -> who resolved it last
    dispatched_once: set[int] = set()
    for ev in events:
        iid, name, at, data = ev["incident_id"], ev["event"], _time(ev["at"]), ev.get("data") or {}
        inc = data.get("incident") or {}
        assignee = data.get("assignee") if name == "dispatched" else None
        before = holder.get(iid)
        if name == "dispatched":
            holder[iid] = assignee
        elif inc.get("assignee"):
            holder.setdefault(iid, inc.get("assignee"))
        if name == "resolved" and ev.get("actor"):
            resolver[iid] = ev["actor"]
        if at is None or not start <= at < end:
            continue
        places = _places(grids, inc.get("grid_id"))
        opened_at = _time(inc.get("opened_at"))
        if name == "opened":
            for p in places:
                scores[p].received += 1
            if data.get("channel") == "patrol" and data.get("reported_by"):
                for key in [("worker", data["reported_by"]), *places]:
                    scores[key].found += 1
        elif name == "dispatched" and assignee:
            scores[("worker", assignee)].received += 1
            if iid not in dispatched_once and opened_at is not None:
                dispatched_once.add(iid)
                for key in [("worker", assignee), *places]:
                    scores[key].dispatch_s.append((at - opened_at).total_seconds())
        elif name == "resolved":
            for key in [("worker", ev.get("actor") or "?"), *places]:
                scores[key].resolved += 1
                scores[key].resolved_on_time += _on_time(inc)
        elif name == "closed":
            who = [("worker", resolver[iid])] if iid in resolver else []
            took = (at - opened_at).total_seconds() if opened_at is not None else None
            for key in [*who, *places]:
                scores[key].closures[iid] = (_on_time(inc), took)
        elif name == "escalated":
            who = [("worker", before)] if before else []
            for key in [*who, *places]:
                scores[key].escalations += 1
        elif name == "reopened":
            who = [("worker", resolver[iid])] if iid in resolver else []
            for key in [*who, *places]:
                scores[key].reopenings += 1
        elif name == "rated":
            who = [("worker", resolver[iid])] if iid in resolver else []
            for key in [*who, *places]:
                scores[key].ratings[iid] = str(data.get("rating"))
    order = sorted(scores.items(), key=lambda kv: (KINDS.index(kv[0][0]), kv[0][1]))
    return [_row(kind, sid, grids, s) for (kind, sid), s in order]


def _places(grids: GridSet, grid_id: str | None) -> list[tuple[str, str]]:
    """The grid where it happened, its community and its street."""
    g = grids.get(grid_id)
    if g is None:
        return []
    out = []
    for cand in [g, *grids.ancestors(g.id)]:
        kind = {"grid": "grid", "community": "community", "street": "street"}.get(cand.level)
        if kind:
            out.append((kind, cand.id))
    return out


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _row(kind: str, sid: str, grids: GridSet, s: _Score) -> dict[str, Any]:
    g = grids.get(sid) if kind != "worker" else None
    satisfied = sum(1 for r in s.ratings.values() if r in SATISFIED)
    closed = list(s.closures.values())
    return {"kind": kind, "id": sid, "name": g.name if g else sid, "found": s.found, "received": s.received,
            "resolved": s.resolved, "on_time_handling_rate": _rate(s.resolved_on_time, s.resolved),
            "closed": len(closed), "on_time_closure_rate": _rate(sum(1 for ok, _ in closed if ok), len(closed)),
            "escalations": s.escalations, "reopenings": s.reopenings, "rated": len(s.ratings),
            "satisfaction_rate": _rate(satisfied, len(s.ratings)),
            "mean_dispatch_s": _mean(s.dispatch_s), "mean_close_s": _mean([d for _, d in closed if d is not None])}


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return out.getvalue()
