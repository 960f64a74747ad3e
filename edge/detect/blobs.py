"""Foreground mask -> blobs (connected components with box, area and ground point)."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class Blob:
    x: float   # box in work pixels
    y: float
    w: float
    h: float
    area: int  # foreground pixels

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    @property
    def ground(self) -> tuple[float, float]:
        """Bottom-centre of the box: where the object stands on the ground."""
        return self.x + self.w / 2, self.y + self.h


_CLOSE = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))


def extract_blobs(fg: np.ndarray, min_area: int = 3) -> list[Blob]:
    """Blobs of a 0/255 mask; a closing first joins the parts of one body (legs, torso)."""
    joined = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, _CLOSE)
    n, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    out = []
    for x, y, w, h, area in stats[1:]:
        if area >= min_area:
            out.append(Blob(float(x), float(y), float(w), float(h), int(area)))
    return out
