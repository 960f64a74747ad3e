"""Silences and maintenance windows: while one is active, matching alerts are still stored
but open no incident. A silence matches on camera (or sensor) id, grid and alert type;
every matcher given must match, and a grid silence covers the whole subtree of the grid."""
from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

KINDS = ("silence", "maintenance")


@dataclass(frozen=True)
class Silence:
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    camera_id: str | None = None  # a camera or sensor id
    grid_id: str | None = None
    type: str | None = None  # an alert type or a pattern such as 'tamper.*'
    kind: str = "silence"  # 'silence' | 'maintenance'
    id: str | None = None

    def __post_init__(self) -> None:
        if not (self.camera_id or self.grid_id or self.type):
            raise ValueError("a silence needs at least one of camera_id, grid_id, type")
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("silence times must carry a time zone")
        if self.ends_at <= self.starts_at:
            raise ValueError(f"silence ends ({self.ends_at.isoformat()}) before it starts ({self.starts_at.isoformat()})")
        if not self.reason or not self.reason.strip():
            raise ValueError("a silence needs a reason")
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r} is not one of {', '.join(KINDS)}")

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, alert: Mapping[str, Any], subtree: Callable[[str], set[str]] | None = None) -> bool:
        if self.camera_id and self.camera_id not in (alert.get("camera_id"), alert.get("source_id")):
            return False
        if self.type and not fnmatch.fnmatchcase(str(alert.get("type") or ""), self.type):
            return False
        if self.grid_id:
            covered = subtree(self.grid_id) if subtree else {self.grid_id}
            if alert.get("grid_id") not in covered:
                return False
        return True


def is_silenced(silences: Iterable[Silence], alert: Mapping[str, Any], now: datetime,
                subtree: Callable[[str], set[str]] | None = None) -> Silence | None:
    """The first active silence that matches the alert's `camera_id`/`source_id`, `grid_id`
    (the cell it happened in) and `type`, or None. Pass `GridSet.subtree` as `subtree`."""
    for s in silences:
        if s.active(now) and s.matches(alert, subtree):
            return s
    return None
