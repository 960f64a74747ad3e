"""`falling_object` (placeholder while the trajectory fit is written)."""
from __future__ import annotations


class FallingRule:
    def __init__(self, cfg, mask, scale):
        self.cfg, self.mask, self.scale = cfg, mask, scale

    def reset(self) -> None:
        pass

    def update(self, tracks, ended, t):
        return []
