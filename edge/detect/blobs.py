"""Foreground mask -> blobs (connected components with box, area and ground point)."""
from __future__ import annotations

import cv2
import numpy as np


class Blob:
    """One foreground blob: box in work pixels, pixel count, and its centre (kept, not
    recomputed: the tracker and rules read it many times per frame)."""

    __slots__ = ("x", "y", "w", "h", "area", "cx", "cy")

    def __init__(self, x: float, y: float, w: float, h: float, area: int):
        self.x, self.y, self.w, self.h, self.area = x, y, w, h, area
        self.cx, self.cy = x + w / 2, y + h / 2

    @property
    def centre(self) -> tuple[float, float]:
        return self.cx, self.cy

    @property
    def ground(self) -> tuple[float, float]:
        """Bottom-centre of the box: where the object stands on the ground."""
        return self.cx, self.y + self.h

    def __repr__(self) -> str:
        return f"Blob({self.x}, {self.y}, {self.w}, {self.h}, {self.area})"


_CLOSE = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))  # (a rect is faster but joins too much)


def extract_blobs(fg: np.ndarray, min_area: int = 3) -> list[Blob]:
    """Blobs of a 0/255 mask; a closing first joins the parts of one body (legs, torso).

    Outer contours, not connectedComponentsWithStats: measured here, the latter costs ~0.8 ms
    per call even on an empty 320x180 mask, contours ~0.01 ms plus a little per blob."""
    if not cv2.countNonZero(fg):
        return []
    joined = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, _CLOSE)
    contours, _ = cv2.findContours(joined, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for c in contours:
        # pixels covered (Pick's theorem on the outline through pixel centres; holes count as filled)
        area = int(round(cv2.contourArea(c) + cv2.arcLength(c, True) / 2 + 1))
        if area >= min_area:
            x, y, w, h = cv2.boundingRect(c)
            out.append(Blob(float(x), float(y), float(w), float(h), area))
    return out
