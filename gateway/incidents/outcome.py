"""What became of one alert in the intake."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class IngestOutcome:
    disposition: str  # opened | attached | cleared | suppressed | unrouted | duplicate
    incident_id: int | None = None
    grid_id: str | None = None
    reason: str | None = None
