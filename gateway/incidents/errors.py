"""What the incident service raises; the API maps each to its HTTP answer (gateway.api.errors)."""
from __future__ import annotations


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    """An invalid transition (409)."""


class Forbidden(PermissionError):
    pass


class BadRequest(ValueError):
    pass


class AlertsRaced(RuntimeError):
    """Alerts of this batch were stored meanwhile by another replica (a redelivered message):
    the batch's transaction must be rolled back and the batch stored again."""

    def __init__(self, ids: set[str]):
        super().__init__(f"{len(ids)} alert(s) of the batch were stored meanwhile by another replica, "
                         f"e.g. {sorted(ids)[:3]}: the batch is stored again")
        self.ids = ids
