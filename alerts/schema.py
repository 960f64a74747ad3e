"""Alert schema v1 as a pydantic model; `python -m alerts` exports its JSON Schema."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator

from common.times import iso

SCHEMA_ID = "gridwatch.alert/1"
MAX_ALERT_BYTES = 2 * 1024 * 1024  # an inline snapshot fits; anything larger is refused


class AlertType(str, Enum):
    intrusion = "intrusion"
    loitering = "loitering"
    line_crossing = "line_crossing"
    falling_object = "falling_object"
    tamper_covered = "tamper.covered"
    tamper_defocus = "tamper.defocus"
    tamper_moved = "tamper.moved"
    stream_lost = "stream.lost"
    stream_restored = "stream.restored"
    motion = "motion"
    camera_event = "camera_event"
    sensor_alarm = "sensor.alarm"
    sensor_threshold = "sensor.threshold"
    sensor_offline = "sensor.offline"
    sensor_battery_low = "sensor.battery_low"


class Severity(str, Enum):
    info = "info"
    minor = "minor"
    major = "major"
    critical = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class AlertSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["camera", "sensor", "edge"]
    id: str = Field(min_length=1, max_length=128)


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Alert(BaseModel):
    """One event seen by an edge (camera or sensor). Unknown top-level fields are refused
    so that a typo in a producer shows up at once instead of being silently dropped;
    `details` is the place for anything extra."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False)

    schema_: Literal["gridwatch.alert/1"] = Field(SCHEMA_ID, alias="schema")
    id: str = Field(min_length=10, max_length=64, pattern=r"^[0-9A-Za-z_\-]+$")
    edge_id: str = Field(min_length=1, max_length=128)
    source: AlertSource
    camera_id: str | None = None
    type: AlertType
    severity: Severity = Severity.minor
    ts: datetime
    frame: int | None = Field(None, ge=0)
    zone: str | None = None
    line: str | None = None
    bbox: list[float] | None = Field(None, min_length=4, max_length=4)
    score: float | None = Field(None, ge=0, le=1)
    details: dict[str, Any] = Field(default_factory=dict)
    snapshot: str | None = None
    location: Location | None = None
    grid_hint: str | None = None

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("ts must carry a time zone (UTC, ending in Z)")
        return v if v.tzinfo is UTC else v.astimezone(UTC)

    @field_validator("bbox")
    @classmethod
    def _normalised(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and not all(-0.01 <= c <= 1.01 for c in v):
            raise ValueError("bbox is [x, y, w, h] normalised to the frame (0..1)")
        return v

    @field_serializer("ts")
    def _ts_z(self, v: datetime) -> str:
        return iso(v)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as `to_json` gives it."""
        return self.model_dump(mode="json", by_alias=True)


def parse_alert(payload: bytes | str) -> Alert:
    """Parse one MQTT payload or JSONL line; raises ValueError with a readable reason."""
    if isinstance(payload, (bytes, bytearray)) and len(payload) > MAX_ALERT_BYTES:
        raise ValueError(f"payload too large: {len(payload)} bytes > {MAX_ALERT_BYTES}")
    try:  # the usual case: a valid alert, parsed and checked in one pass by pydantic's core
        alert = Alert.model_validate_json(payload)
        if "schema_" in alert.model_fields_set:
            return alert
    except ValidationError:
        pass  # explained below, step by step
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"not JSON: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"not a JSON object but {type(data).__name__}")
    if data.get("schema") != SCHEMA_ID:
        raise ValueError(f"unknown schema {data.get('schema')!r}, expected {SCHEMA_ID!r}")
    return Alert.model_validate(data)


def json_schema() -> dict[str, Any]:
    schema = Alert.model_json_schema(by_alias=True)
    schema["$id"] = SCHEMA_ID
    return schema
