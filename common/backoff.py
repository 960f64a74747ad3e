"""Capped exponential backoff with jitter: the one retry schedule of gridwatch (camera and ONVIF
reconnects, media uploads, the gateway's MQTT connects, database retries, webhook retries).

Pure: it only computes delays; the caller sleeps (on an Event, so stopping is instant).
Jitter spreads the retries of many cameras that dropped together (a switch reboot)
so they do not all hammer the network at the same instant.
"""
from __future__ import annotations

import random


class Backoff:
    def __init__(self, initial_s: float = 0.5, max_s: float = 30.0, factor: float = 2.0,
                 jitter: float = 0.25, rng: random.Random | None = None):
        if initial_s <= 0 or max_s < initial_s or factor < 1 or not 0 <= jitter < 1:
            raise ValueError("backoff needs 0 < initial_s <= max_s, factor >= 1, 0 <= jitter < 1")
        self.initial_s, self.max_s, self.factor, self.jitter = initial_s, max_s, factor, jitter
        self.rng = rng or random.Random()
        self.attempts = 0  # failures since the last success

    def base(self, attempt: int) -> float:
        """The delay before jitter after `attempt` failures (1-based), capped at max_s."""
        return min(self.max_s, self.initial_s * self.factor ** max(0, attempt - 1))

    def delay(self, attempt: int) -> float:
        """How long to wait after `attempt` failures, for callers that keep the count themselves
        (a row's attempts column). Jitter only shortens the delay, so the cap is a true upper bound."""
        return self.base(attempt) * (1.0 - self.jitter * self.rng.random())

    def next(self) -> float:
        """Count one more failure and return how long to wait before the next try."""
        self.attempts += 1
        return self.delay(self.attempts)

    def reset(self) -> None:
        self.attempts = 0
