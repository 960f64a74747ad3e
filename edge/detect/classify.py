"""The optional second stage: what is the object a zone or line rule is about to alert on?
`person`, `vehicle`, `animal` or `unknown`; a label of a kind of thing, never an identity.

It runs only when a rule with an `objects:` filter is about to fire (at most every
RETRY_S per track while it waits), on the privacy-masked crop of the full-resolution frame
around the object's box: nothing per frame, nothing for cameras without such a filter.

- a box at least as wide as tall is never a person (people stand upright; a couple side by
  side is still taller than wide): by shape, a vehicle when big (VEHICLE_MIN_W of the frame's
  width or more), else an animal;
- person: OpenCV's own HOG people detector (`cv2.HOGDescriptor_getDefaultPeopleDetector()`,
  Dalal & Triggs' HOG + linear SVM trained on INRIA pedestrians, shipped inside the
  opencv-python wheel, Apache 2.0: nothing is downloaded) on the crop of an upright box, scaled
  so a person would fill its 64x128 window;
- anything else is unknown. The shape rule is a heuristic, not a model: see the precision
  measured in the README.
"""
from __future__ import annotations

import cv2
import numpy as np

LABELS = ("person", "vehicle", "animal")  # (and "unknown")
RETRY_S = 0.5           # a rule waiting for its label asks again at most this often per track
CROP_MARGIN = 0.25      # context around the box, as a share of its size
WINDOW_H = 160          # the crop is scaled to this height (HOG's window is 128 rows)
HOG_MIN = 0.2           # SVM margin of a person detection
WIDE = 1.0             # at least as wide as tall: lies or stands on the ground lengthwise (people stand upright)
VEHICLE_MIN_W = 0.12    # a wide object at least this share of the frame's width: a vehicle


class ObjectClassifier:
    def __init__(self) -> None:
        self._hog: cv2.HOGDescriptor | None = None  # built at the first call

    def _detector(self) -> cv2.HOGDescriptor:
        if self._hog is None:
            hog = cv2.HOGDescriptor()
            hog.setSVMDetector(np.array(cv2.HOGDescriptor.getDefaultPeopleDetector(), np.float32))
            self._hog = hog
        return self._hog

    def label(self, image: np.ndarray, box: tuple[float, float, float, float],
              keep: np.ndarray | None = None) -> tuple[str, float]:
        """(label, score) of the object in `box` (x, y, w, h in `image` pixels) of a BGR or grey
        frame; `keep`: uint8 mask of the frame, 0 under privacy masks (blanked before looking)."""
        fh, fw = image.shape[:2]
        x, y, w, h = box
        if w < 2 or h < 2:
            return "unknown", 0.0
        mx, my = CROP_MARGIN * w + 8, CROP_MARGIN * h + 8
        x0, y0 = max(0, int(x - mx)), max(0, int(y - my))
        x1, y1 = min(fw, int(x + w + mx)), min(fh, int(y + h + my))
        crop = image[y0:y1, x0:x1]
        grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop.copy()
        if keep is not None:
            grey = cv2.bitwise_and(grey, keep[y0:y1, x0:x1])
        if w >= WIDE * h:  # people stand upright (a couple side by side too): never a person
            return ("vehicle", 0.6) if w >= VEHICLE_MIN_W * fw else ("animal", 0.5)
        score = self._person(grey, h / (y1 - y0))
        if score >= HOG_MIN:
            return "person", round(min(1.0, 0.5 + score / 4), 3)
        return "unknown", 0.0

    def _person(self, grey: np.ndarray, share: float) -> float:
        """Best HOG person score in the crop, scaled so the object is a person's size in the window."""
        ch, cw = grey.shape
        k = WINDOW_H * 0.8 / max(1.0, share * ch)  # the object's height -> ~0.8 of the scaled crop
        img = cv2.resize(grey, (max(72, int(cw * k)), max(WINDOW_H, int(ch * k))), interpolation=cv2.INTER_LINEAR)
        img = cv2.copyMakeBorder(img, 16, 16, 16, 16, cv2.BORDER_REPLICATE)
        _, weights = self._detector().detectMultiScale(img, winStride=(8, 8), padding=(0, 0), scale=1.1,
                                                       hitThreshold=0.0)
        return float(np.max(weights)) if len(weights) else 0.0
