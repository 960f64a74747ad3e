"""The gateway's tables (SQLAlchemy 2). The schema itself is built by the Alembic
migrations in gateway/db/migrations; these models must match them."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Statuses in which an incident still collects repeated alerts of its source and type.
# (the engine's ACTIVE statuses, gateway.engine.lifecycle)
OPEN_STATUSES = ("open", "dispatched", "acknowledged", "resolved", "verified")
OPEN_SQL = "status IN ('open', 'dispatched', 'acknowledged', 'resolved', 'verified')"


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite keeps no zone, so store naive UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database: gridwatch stores aware UTC times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


BigId = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER keys


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Grid(Base):
    __tablename__ = "grids"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))  # street | community | grid
    kind: Mapped[str | None] = mapped_column(String(32))
    parent: Mapped[str | None] = mapped_column(String(64), index=True)
    geometry: Mapped[dict[str, Any] | None]
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime]


class Person(Base):
    """Someone responsible for a grid (from the grids' GeoJSON)."""
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    grid_id: Mapped[str] = mapped_column(String(64), ForeignKey("grids.id", ondelete="CASCADE"), index=True)
    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer, default=0)


class User(Base):
    __tablename__ = "users"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # admin | operator | grid_worker | integration
    grid_id: Mapped[str | None] = mapped_column(String(64))  # null = the whole tree
    password_hash: Mapped[str | None] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    language: Mapped[str | None] = mapped_column(String(16))  # chosen in the console; None: the browser's


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored. Login tokens carry the user's name."""
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    username: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    grid_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Incident(Base):
    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    # the cell where it happened (visibility, topic); null = the unrouted queue
    grid_id: Mapped[str | None] = mapped_column(String(64), index=True)
    level: Mapped[str] = mapped_column(String(16))  # the level answering now
    owner_grid_id: Mapped[str | None] = mapped_column(String(64))  # the grid at that level
    type: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    source_kind: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str] = mapped_column(String(128))
    camera_id: Mapped[str | None] = mapped_column(String(128))
    edge_id: Mapped[str | None] = mapped_column(String(128))
    alert_count: Mapped[int] = mapped_column(Integer, default=1)
    first_alert_id: Mapped[str] = mapped_column(String(64), unique=True)
    assignee: Mapped[str | None] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(300))
    location: Mapped[dict[str, Any] | None]
    unrouted_reason: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime]
    last_alert_at: Mapped[datetime]
    dispatched_at: Mapped[datetime | None]
    ack_due_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    verified_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    dismissed_at: Mapped[datetime | None]
    false_alarm: Mapped[bool] = mapped_column(Boolean, default=False)
    rule: Mapped[str | None] = mapped_column(String(100))
    merged_into: Mapped[int | None] = mapped_column(BigId)
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    professional_grid_id: Mapped[str | None] = mapped_column(String(64))
    # the engine's full IncidentState (JSON), so fields without a column survive a round trip
    engine_state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        # At most one open incident per (source, type): repeated alerts attach to it,
        # race-safe across replicas (insert ... on conflict do nothing, then attach).
        Index("uq_incidents_open_source_type", "source_id", "type", unique=True,
              sqlite_where=text(OPEN_SQL), postgresql_where=text(OPEN_SQL)),
    )


class IncidentEvent(Base):
    """Every transition of an incident (its timeline) and the live feed behind /api/events."""
    __tablename__ = "incident_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(BigId, index=True)  # no foreign key: migration 0003 says why
    at: Mapped[datetime]
    event: Mapped[str] = mapped_column(String(32))  # opened, dispatched, ..., alert_attached
    actor: Mapped[str] = mapped_column(String(64))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AlertRow(Base):
    __tablename__ = "alerts"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the idempotency key
    edge_id: Mapped[str] = mapped_column(String(128))
    source_kind: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str] = mapped_column(String(128), index=True)
    camera_id: Mapped[str | None] = mapped_column(String(128), index=True)
    type: Mapped[str] = mapped_column(String(32), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    ts: Mapped[datetime] = mapped_column(index=True)
    received_at: Mapped[datetime]
    grid_id: Mapped[str | None] = mapped_column(String(64), index=True)
    incident_id: Mapped[int | None] = mapped_column(BigId, index=True)
    disposition: Mapped[str] = mapped_column(String(16))  # opened | attached | cleared | suppressed | unrouted
    reason: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]]  # the alert JSON without its inline snapshot
    snapshot_media_id: Mapped[int | None] = mapped_column(BigId)


class DeadLetter(Base):
    __tablename__ = "dead_letters"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(512))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(Text)
    reason_code: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(index=True)


class Timer(Base):
    """A deadline as a row: fired once (claimed with FOR UPDATE SKIP LOCKED), survives restarts."""
    __tablename__ = "timers"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(BigId, index=True)  # no foreign key: migration 0003 says why
    kind: Mapped[str] = mapped_column(String(32))  # ack_deadline | resolve_deadline
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    fired_by: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (Index("ix_timers_pending", "due_at", sqlite_where=text("fired_at IS NULL AND cancelled_at IS NULL"),
                            postgresql_where=text("fired_at IS NULL AND cancelled_at IS NULL")),)


class Silence(Base):
    __tablename__ = "silences"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), default="silence", server_default="silence")  # | maintenance
    grid_id: Mapped[str | None] = mapped_column(String(64))
    camera_id: Mapped[str | None] = mapped_column(String(128))  # a camera or sensor id
    type: Mapped[str | None] = mapped_column(String(32))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class Report(Base):
    """What a person reported (Open311, a grid worker's patrol): the case is the incident; the
    reporter's contact details stay here, shown only to those who handle it, never published."""
    __tablename__ = "reports"
    incident_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # open311 | patrol
    service_code: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    media_url: Mapped[str | None] = mapped_column(Text)
    reporter: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # name, email, phone, device_id, account_id
    submitted_by: Mapped[str] = mapped_column(String(64))  # the token or user that filed it
    created_at: Mapped[datetime]


class AuditEntry(Base):
    """Append-only (database triggers refuse UPDATE and DELETE): who, when, what, why."""
    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(128))
    grid_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class OutboxMessage(Base):
    """Incident events to publish (MQTT, webhooks), written in the same transaction as the change."""
    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(512))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_outbox_pending", "next_attempt_at", sqlite_where=text("sent_at IS NULL"),
                            postgresql_where=text("sent_at IS NULL")),)


class Media(Base):
    """Evidence files (clips, snapshots, resolution photos) stored under GRIDWATCH_MEDIA_DIR."""
    __tablename__ = "media"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # clip | snapshot | photo
    alert_id: Mapped[str | None] = mapped_column(String(64), index=True)
    incident_id: Mapped[int | None] = mapped_column(BigId, index=True)
    camera_id: Mapped[str | None] = mapped_column(String(128))
    type: Mapped[str | None] = mapped_column(String(64))  # MIME type
    path: Mapped[str] = mapped_column(String(1024), index=True)  # evidence is looked up by path (its key is the file name)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    complete: Mapped[bool] = mapped_column(Boolean, default=True)
    deleted_at: Mapped[datetime | None]


class Edge(Base):
    __tablename__ = "edges"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    ts: Mapped[datetime | None]
    last_seen: Mapped[datetime]
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Camera(Base):
    __tablename__ = "cameras"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))   # the profile's name (its status says it)
    edge_id: Mapped[str | None] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))
    fps: Mapped[float | None] = mapped_column(Float)
    last_frame_at: Mapped[datetime | None]
    last_seen: Mapped[datetime]
    grid_id: Mapped[str | None] = mapped_column(String(64))
    location: Mapped[dict[str, Any] | None]
    device: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Sensor(Base):
    __tablename__ = "sensors"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    edge_id: Mapped[str | None] = mapped_column(String(128))
    kind: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    battery: Mapped[float | None] = mapped_column(Float)
    last_seen: Mapped[datetime]
    last_alert_type: Mapped[str | None] = mapped_column(String(32))
    grid_id: Mapped[str | None] = mapped_column(String(64))
    location: Mapped[dict[str, Any] | None]
