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


_PAD = 5  # beyond the closing's reach (2 px dilated, 2 eroded): the crop changes nothing


def extract_blobs(fg: np.ndarray, min_area: int = 3) -> list[Blob]:
    """Blobs of a 0/255 mask; a closing first joins the parts of one body (legs, torso).

    Outer contours, not connectedComponentsWithStats: measured here, the latter costs ~0.3-0.8 ms
    per call on a 320x180 mask, contours ~0.01 ms plus a little per blob. Both the closing and
    the contours run on the box around the foreground only (a third of the frame on busy
    footage, nothing on an empty one): the same blobs for half the cost."""
    x, y, w, h = cv2.boundingRect(fg)  # of the non-zero pixels; all 0 when there are none
    if not w:
        return []
    rows, cols = fg.shape
    x0, y0 = max(0, x - _PAD), max(0, y - _PAD)
    roi = fg[y0:min(rows, y + h + _PAD), x0:min(cols, x + w + _PAD)]
    joined = cv2.morphologyEx(roi, cv2.MORPH_CLOSE, _CLOSE)
    contours, _ = cv2.findContours(joined, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE, offset=(x0, y0))
    out = []
    for c in contours:
        bx, by, bw, bh = cv2.boundingRect(c)
        if bw * bh < min_area:
            continue  # a speck: fewer pixels than its box holds
        # pixels covered (Pick's theorem on the outline through pixel centres; holes count as filled)
        area = int(round(cv2.contourArea(c) + cv2.arcLength(c, True) / 2 + 1))
        if area >= min_area:
            out.append(Blob(float(bx), float(by), float(bw), float(bh), area))
    return out
