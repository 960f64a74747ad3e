"""Notification chains: who hears of a new case, and who after how long unacknowledged.

A grid (or an ancestor: the nearest one with a chain wins, `GridSet.chain_for`) may hold, in
its GeoJSON properties, `notify_chain`: steps of a role and minutes after dispatch, e.g.
    [{"role": "grid_worker", "after_min": 0}, {"role": "grid_leader", "after_min": 10},
     {"role": "community", "after_min": 30}]
Each step tells the nearest person with that role (the grid itself first, then up the tree:
`GridSet.nearest_person`) through their channels; a step after 0 goes only while the case is
still unacknowledged, so "acknowledge" on the phone stops the chain.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any


@dataclass(frozen=True)
class Step:
    role: str
    after: timedelta


def parse_chain(value: Any, roles: tuple[str, ...]) -> tuple[Step, ...]:
    """Steps from the GeoJSON property, soonest first; ValueError naming the step and the reason."""
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError("notify_chain must be a non-empty list of {role, after_min}")
    steps = []
    for n, item in enumerate(value, 1):
        if not isinstance(item, dict) or item.get("role") not in roles:
            raise ValueError(f"notify_chain step {n}: needs a 'role' among {', '.join(roles)}")
        after = item.get("after_min", 0)
        if not isinstance(after, (int, float)) or isinstance(after, bool) or not 0 <= after <= 7 * 24 * 60:
            raise ValueError(f"notify_chain step {n}: 'after_min' must be minutes between 0 and a week, not {after!r}")
        steps.append(Step(str(item["role"]), timedelta(minutes=after)))
    return tuple(sorted(steps, key=lambda s: s.after))
