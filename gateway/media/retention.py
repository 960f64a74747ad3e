"""Which media to remove: pure, given the items, the time and the limits (no I/O, no clock).

Order of the rules: age first (per camera and kind), then size (per camera, then in total),
always oldest first and never an item that belongs to an open incident.

The policy, as YAML (GRIDWATCH_MEDIA_RETENTION names the file):

    max_age_days: {clip: 30, snapshot: 90, photo: 365}
    cameras: {cam-lawn-01: {clip: 7}}          # per camera and kind, overrides max_age_days
    max_total_bytes: 200000000000              # the whole media directory
    camera_max_bytes: {cam-gate-02: 20000000000}
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RetentionPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_age_days: dict[str, float] = Field(default_factory=lambda: {"clip": 30.0, "snapshot": 90.0, "photo": 365.0},
                                           description="kind -> days; kinds not listed are kept by age")
    cameras: dict[str, dict[str, float]] = Field(default_factory=dict,
                                                 description="camera id -> kind -> days, overrides max_age_days")
    max_total_bytes: int | None = Field(None, gt=0)
    camera_max_bytes: dict[str, int] = Field(default_factory=dict, description="camera id -> bytes")

    def max_age(self, camera_id: str | None, kind: str) -> timedelta | None:
        days = self.cameras.get(camera_id or "", {}).get(kind, self.max_age_days.get(kind))
        return None if days is None else timedelta(days=days)


@dataclass(frozen=True)
class StoredMedia:
    id: int
    camera_id: str | None
    kind: str
    size: int
    created_at: datetime
    protected: bool = False  # belongs to an open incident


@dataclass(frozen=True)
class Removal:
    item: StoredMedia
    reason: Literal["age", "camera_size", "total_size"]


@dataclass(frozen=True)
class RetentionPlan:
    removals: list[Removal]
    kept_bytes: int
    over_limit_bytes: int  # still above the total limit because the rest is protected

    @property
    def freed_bytes(self) -> int:
        return sum(r.item.size for r in self.removals)


def plan_retention(items: Iterable[StoredMedia], now: datetime, policy: RetentionPolicy) -> RetentionPlan:
    alive = sorted(items, key=lambda m: (m.created_at, m.id))  # oldest first
    removals: list[Removal] = []

    def drop(m: StoredMedia, reason: str) -> None:
        removals.append(Removal(m, reason))  # type: ignore[arg-type]
        alive.remove(m)

    for m in list(alive):
        age = policy.max_age(m.camera_id, m.kind)
        if age is not None and not m.protected and now - m.created_at > age:
            drop(m, "age")

    for camera, limit in policy.camera_max_bytes.items():
        used = sum(m.size for m in alive if m.camera_id == camera)
        for m in [m for m in alive if m.camera_id == camera and not m.protected]:
            if used <= limit:
                break
            drop(m, "camera_size")
            used -= m.size

    total = sum(m.size for m in alive)
    if policy.max_total_bytes is not None:
        for m in [m for m in alive if not m.protected]:
            if total <= policy.max_total_bytes:
                break
            drop(m, "total_size")
            total -= m.size
    over = max(0, total - policy.max_total_bytes) if policy.max_total_bytes is not None else 0
    return RetentionPlan(removals, total, over)
