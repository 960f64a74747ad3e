"""What the detector reports: one `Event` per thing that happened (not per frame).
Coordinates are normalised to the frame (0..1), as in the camera profile."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge.detect.blobs import Blob
from edge.detect.tracker import Track


@dataclass
class Event:
    type: str                         # an alerts.AlertType value
    severity: str
    t: float                          # pos_s of the frame that raised it
    bbox: list[float] | None = None   # [x, y, w, h] normalised
    score: float = 1.0
    zone: str | None = None
    line: str | None = None
    track: list[list[float]] | None = None  # ground points, normalised
    details: dict[str, Any] = field(default_factory=dict)


class Scale:
    """Converts work pixels to normalised coordinates."""

    def __init__(self, width: int, height: int):
        self.w, self.h = width, height

    def box(self, b: Blob) -> list[float]:
        return [round(b.x / self.w, 4), round(b.y / self.h, 4), round(b.w / self.w, 4), round(b.h / self.h, 4)]

    def point(self, x: float, y: float) -> list[float]:
        return [round(min(max(x / self.w, 0.0), 1.0), 4), round(min(max(y / self.h, 0.0), 1.0), 4)]

    def path(self, tr: Track, last: int = 50) -> list[list[float]]:
        return [self.point(x, y) for _, x, y in tr.path()[-last:]]
