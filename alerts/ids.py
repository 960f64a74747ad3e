"""Alert ids: ULIDs, unique and sortable by creation time.

The id is minted once, when the alert is created, and travels unchanged through
spool, retries and MQTT redelivery: it is the idempotency key end to end.
"""
from ulid import ULID


def new_alert_id(ts_ms: int | None = None) -> str:
    """A new ULID string; `ts_ms` (Unix milliseconds) pins its time part, e.g. to the frame time."""
    if ts_ms is None:
        return str(ULID())
    return str(ULID.from_timestamp(ts_ms / 1000.0))
