"""Tamper (placeholder while the detectors are written)."""
from __future__ import annotations


class TamperRule:
    active = False

    def __init__(self, cfg, scale):
        self.cfg, self.scale = cfg, scale

    def reset(self) -> None:
        pass

    def update(self, grey, t, learn_only):
        return []
