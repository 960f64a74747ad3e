"""An incident as the engine sees it (`IncidentState`, frozen, with its JSON form), who acts on it
(`Actor`), what a change records (`Event`) and the deadlines it has running (`Timer`)."""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from common.times import iso_exact

STATUSES = ("open", "dispatched", "acknowledged", "resolved", "verified", "closed", "dismissed")
ACTIVE = ("open", "dispatched", "acknowledged", "resolved", "verified")
UNRESOLVED = ("open", "dispatched", "acknowledged")


@dataclass(frozen=True)
class Actor:
    username: str
    role: str


SYSTEM = Actor("gridwatch", "system")


@dataclass(frozen=True)
class Event:
    name: str
    at: datetime
    actor: str | None = None
    note: str | None = None
    reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "at": iso_exact(self.at), "actor": self.actor, "note": self.note,
                "reason": self.reason, "data": self.data}


class Timer(NamedTuple):
    kind: str  # 'ack' | 'resolve'
    due_at: datetime


@dataclass(frozen=True)
class IncidentState:
    id: str
    type: str
    severity: str
    status: str
    level: str  # the level currently answering: 'grid' | 'community' | 'street'
    grid_id: str | None  # the cell where it happened; never changes
    owner_grid_id: str | None  # the grid at `level` that answers for it
    opened_at: datetime
    source_id: str | None = None
    camera_id: str | None = None
    professional_grid_id: str | None = None
    assignee: str | None = None
    ack_due_at: datetime | None = None
    due_at: datetime | None = None
    acknowledged_at: datetime | None = None  # the first acknowledgement (kept across reopen)
    resolved_at: datetime | None = None
    verified_at: datetime | None = None
    closed_at: datetime | None = None
    dismissed_at: datetime | None = None
    calendar: str = "calendar"  # deadlines in 'working' hours or 'calendar' time
    ack_within: timedelta = timedelta(minutes=30)
    resolve_within: timedelta = timedelta(hours=4)
    rule: str | None = None
    escalations: int = 0
    reopen_count: int = 0
    extensions: int = 0
    alert_count: int = 1
    last_alert_at: datetime | None = None
    merged_into: str | None = None
    false_alarm: bool = False
    dismiss_reason: str | None = None
    dismiss_kind: str | None = None  # false_alarm | duplicate | test | other (lifecycle.DISMISS_KINDS)
    resolution_note: str | None = None
    photos: tuple[str, ...] = ()
    ack_missed: bool = False  # an acknowledgement deadline passed at some level
    resolve_missed: bool = False  # a resolution deadline passed: not closed on time
    overdue: tuple[str, ...] = ()  # deadlines missed at the top level, already reported once
    satisfaction: str | None = None  # a reported case: the reporter's last rating (lifecycle.RATINGS)
    ratings: int = 0

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def to_dict(self, only: Collection[str] | None = None) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 UTC, durations in seconds; all fields, or `only` these."""
        d = self.__dict__  # all immutable: no deep copy
        out = dict(d) if only is None else {k: d[k] for k in only}
        for k in _TIME_FIELDS:
            if out.get(k) is not None:
                out[k] = iso_exact(out[k])
        for k in _DURATION_FIELDS:
            if k in out:
                out[k] = out[k].total_seconds()
        for k in _TUPLE_FIELDS:
            if k in out:
                out[k] = list(out[k])
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "IncidentState":
        kw = {}
        for f in fields(cls):
            if f.name not in d:
                continue
            v = d[f.name]
            if v is not None and f.name.endswith("_at"):
                v = datetime.fromisoformat(v) if isinstance(v, str) else v
            elif f.name.endswith("_within") and not isinstance(v, timedelta):
                v = timedelta(seconds=float(v))
            elif f.name in ("photos", "overdue"):
                v = tuple(v or ())
            kw[f.name] = v
        return new_state(**kw)


STATE_FIELDS = tuple(f.name for f in fields(IncidentState))
_FIELD_NAMES = frozenset(STATE_FIELDS)
_TIME_FIELDS = tuple(f.name for f in fields(IncidentState) if "datetime" in str(f.type))
_DURATION_FIELDS = tuple(f.name for f in fields(IncidentState) if "timedelta" in str(f.type))
_TUPLE_FIELDS = tuple(f.name for f in fields(IncidentState) if str(f.type).startswith("tuple"))


_DEFAULTS = {f.name: f.default for f in fields(IncidentState) if f.default is not MISSING}
_REQUIRED = _FIELD_NAMES - _DEFAULTS.keys()


def new_state(**values: Any) -> IncidentState:
    """`IncidentState(**values)` without the frozen dataclass's __init__ (an object.__setattr__
    for each of its 37 fields): the ingest makes one for every new incident."""
    missing, unknown = _REQUIRED - values.keys(), values.keys() - _FIELD_NAMES
    if missing or unknown:
        raise TypeError(f"IncidentState: missing {sorted(missing)}, unknown {sorted(unknown)}")
    new = object.__new__(IncidentState)
    new.__dict__.update(_DEFAULTS, **values)
    return new


def replace(state: IncidentState, **changes: Any) -> IncidentState:
    """`dataclasses.replace` for a state (no __post_init__, no defaults to compute), without
    running __init__ over all its fields: the ingest calls it for every repeated alert."""
    unknown = changes.keys() - _FIELD_NAMES
    if unknown:
        raise TypeError(f"IncidentState has no field(s) {', '.join(sorted(unknown))}")
    new = object.__new__(IncidentState)
    new.__dict__.update(state.__dict__, **changes)
    return new
