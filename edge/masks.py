"""Normalised polygons (profile coordinates, 0..1) rasterised to pixel masks.

A mask is rasterised once per (polygons, resolution) and cached: the hot path only
indexes the ready-made array. Privacy masks are filled with a flat grey so that nothing
under them reaches the detector, a snapshot, a clip or a preview.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

PRIVACY_FILL = 96  # flat grey: visibly "masked", and no edges for the detector to see


def _key(polygons: list[list[list[float]]]) -> tuple[tuple[tuple[float, float], ...], ...]:
    return tuple(tuple((float(x), float(y)) for x, y in poly) for poly in polygons)


@lru_cache(maxsize=256)
def _rasterise(key: tuple[tuple[tuple[float, float], ...], ...], width: int, height: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    pts = [np.round(np.array(poly) * (width, height)).astype(np.int32) for poly in key]
    if pts:
        cv2.fillPoly(mask, pts, 255)
    mask.setflags(write=False)  # shared through the cache: nobody may change it
    return mask


def polygon_mask(polygons: list[list[list[float]]], width: int, height: int) -> np.ndarray:
    """uint8 mask (255 inside any polygon, 0 outside) of shape (height, width); cached, read-only."""
    return _rasterise(_key(polygons), int(width), int(height))


def apply_privacy_masks(image: np.ndarray, polygons: list[list[list[float]]]) -> np.ndarray:
    """A copy of `image` (grey or BGR) with every privacy polygon filled with flat grey."""
    out = image.copy()
    if polygons:
        mask = polygon_mask(polygons, image.shape[1], image.shape[0])
        out[mask > 0] = PRIVACY_FILL
    return out
