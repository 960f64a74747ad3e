"""Bulk writes for the ingest's batches (issue 5: the gateway's throughput).

A batch of alerts writes thousands of rows. Row by row through the ORM or an executemany,
psycopg and SQLAlchemy cost tens of microseconds a row, more than PostgreSQL's own work; so on
PostgreSQL a batch's rows go out in bulk:
- rows whose outcome matters (alerts, incidents, camera/sensor upserts): ONE JSON parameter per
  statement, unpacked by the server (`json_to_recordset`), with ON CONFLICT and RETURNING;
- write-only rows (timeline events, outbox messages, timers, audit entries): collected as plain
  dicts while the batch runs (`add_row`), then one COPY per table (`flush_rows`).
Elsewhere (SQLite, the per-alert SAVEPOINT path) the same calls fall back to the ORM.

JSON is encoded by orjson (several times faster than the standard library; an incident body is
encoded once and its text spliced into the rows that carry it, see `with_incident`)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import BigInteger, Boolean, Float, Integer, String, Text, insert, inspect, text
from sqlalchemy.orm import Session

from gateway.db.models import JSON, AuditEntry, IncidentEvent, OutboxMessage, Timer, UTCDateTime

# Rows the ingest adds and never reads back as objects in the same transaction.
WRITE_ONLY = (IncidentEvent, OutboxMessage, Timer, AuditEntry)
_ROWS = "gridwatch.rows"  # Session.info key: the rows a fast-path batch collected, (model, keys) -> rows
_OPTS = orjson.OPT_NON_STR_KEYS


class JSONText(str):
    """A JSON column's value already encoded: COPY sends it as is."""


def dumps(v: Any) -> str:
    """Compact JSON text; aware datetimes as ISO 8601 (the recordset columns convert them to UTC)."""
    return orjson.dumps(v, option=_OPTS).decode()


def with_incident(head: dict[str, Any], body: "dict[str, Any] | JSONText",
                  default: Callable[[Any], Any] | None = None) -> "dict[str, Any] | JSONText":
    """`head` plus "incident": `body`; as JSON text when the body is, splicing the body's text
    in (an incident is ~1 KB of JSON that its timeline entry and outbox messages all carry).
    `default` converts what orjson cannot encode, and datetimes (shown as the API shows them)."""
    if not isinstance(body, JSONText):
        return {**head, "incident": body}
    value = {**head, "incident": orjson.Fragment(str(body))}
    if default is None:
        return JSONText(orjson.dumps(value, option=_OPTS).decode())
    return JSONText(orjson.dumps(value, default=default, option=_OPTS | orjson.OPT_PASSTHROUGH_DATETIME).decode())


def is_postgresql(s: Session) -> bool:
    return s.get_bind().dialect.name == "postgresql"


# -- write-only rows, sent at the end of a batch ------------------------------------------------
def collect_rows(s: Session) -> None:
    """From now on `add_row` collects plain rows in this session (a fast-path batch)."""
    s.info[_ROWS] = {}


def collecting(s: Session) -> bool:
    return _ROWS in s.info


def copies(s: Session) -> bool:
    """Do this batch's write-only rows go out by COPY (a PostgreSQL fast-path batch)?"""
    return _ROWS in s.info and is_postgresql(s)


def add_row(s: Session, model, **values: Any) -> None:
    """A timeline event, outbox message, timer or audit entry: in a fast-path batch a plain
    dict, sent with the batch's others by `flush_rows` (an ORM object per row costs more than
    its INSERT); otherwise an ORM object, so a SAVEPOINT's rollback discards it."""
    rows = s.info.get(_ROWS)
    if rows is None:
        s.add(model(**values))
    else:
        rows.setdefault((model, tuple(values)), []).append(values)


def flush_rows(s: Session, *, done: bool = False) -> None:
    """Send the batch's pending timeline events, outbox messages, timers and audit entries (the
    collected rows and any ORM objects of those tables), one COPY (PostgreSQL) or executemany per
    table and set of columns, in the order they were added; no RETURNING of ids.
    `done`: the batch is over, `add_row` makes ORM objects again."""
    groups: dict[tuple, list[dict[str, Any]]] = s.info.get(_ROWS) or {}
    for obj in sorted((o for o in s.new if isinstance(o, WRITE_ONLY)), key=lambda o: inspect(o).insert_order):
        keys = tuple(a.key for a in inspect(type(obj)).column_attrs if a.key in obj.__dict__)
        groups.setdefault((type(obj), keys), []).append({k: obj.__dict__[k] for k in keys})
        s.expunge(obj)
    for (model, keys), rows in groups.items():
        if not copy_rows(s, model.__table__, rows, keys):
            rows = [{k: orjson.loads(v) if isinstance(v, JSONText) else v for k, v in r.items()} for r in rows]
            s.connection().execute(insert(model.__table__), rows)  # absent columns get their defaults
    groups.clear()
    if done:
        s.info.pop(_ROWS, None)


def copy_rows(s: Session, table, rows: list[dict[str, Any]], keys: tuple[str, ...] | None = None) -> bool:
    """PostgreSQL: send rows (dicts with the same `keys`) with one binary COPY: no per-row
    statement, no escaping. The values are converted as the column types would (UTCDateTime:
    naive UTC; JSON: its text), only in the columns of those types. False (nothing sent) on
    other databases, or when a column left out has a Python-side default that COPY would miss.
    A COPY has no ON CONFLICT: a duplicate key fails it (psycopg's UniqueViolation)."""
    keys = keys or same_keys(rows)
    if not is_postgresql(s) or any(c.default is not None and c.key not in keys for c in table.columns
                                   if not c.primary_key):
        return False
    times = [i for i, k in enumerate(keys) if isinstance(table.c[k].type, UTCDateTime)]
    jsons = [i for i, k in enumerate(keys) if isinstance(table.c[k].type, JSON)]
    naive: dict[datetime, datetime] = {}  # a batch's rows share a handful of times
    copy_sql = f"COPY {table.name} ({', '.join(table.c[k].name for k in keys)}) FROM STDIN (FORMAT BINARY)"
    with s.connection().connection.driver_connection.cursor() as cur, cur.copy(copy_sql) as copy:
        copy.set_types([_binary_type(table.c[k].type) for k in keys])
        for row in rows:
            values = [row[k] for k in keys]
            for i in times:
                v = values[i]
                if v is not None:
                    values[i] = naive.get(v) or naive.setdefault(v, v.astimezone(UTC).replace(tzinfo=None))
            for i in jsons:
                if not isinstance(values[i], str):
                    values[i] = dumps(values[i])
            copy.write_row(values)
    return True


def _binary_type(t) -> str:
    """The PostgreSQL type a binary COPY sends for a column type (JSON: its text, which is
    also json's binary form; no escaping of it on either side, unlike COPY's text format)."""
    if isinstance(t, (JSON, String, Text)):
        return "text"
    if isinstance(t, UTCDateTime):
        return "timestamp"
    if isinstance(t, BigInteger):
        return "int8"
    if isinstance(t, Integer):
        return "int4"
    if isinstance(t, Boolean):
        return "bool"
    if isinstance(t, Float):
        return "float8"
    raise TypeError(f"no binary COPY type for {t!r}")


# -- rows as one JSON parameter (PostgreSQL) ---------------------------------------------------
# An executemany costs psycopg tens of microseconds a row, and a multi-row VALUES statement with
# thousands of placeholders is parsed anew by psycopg for every batch; this is one short statement.
def recordset(s: Session, table, keys: tuple[str, ...]) -> tuple[str, str]:
    """(the FROM item unpacking `:rows`, the select list of `keys` from it). Times travel as
    ISO 8601 with their offset (timestamptz) and are stored as the naive UTC that UTCDateTime
    columns hold."""
    dialect = s.get_bind().dialect
    q = dialect.identifier_preparer.quote
    decl, cols = [], []
    for k in keys:
        col = table.c[k]
        if isinstance(col.type, UTCDateTime):
            decl.append(f"{q(col.name)} timestamptz")
            cols.append(f"r.{q(col.name)} AT TIME ZONE 'UTC'")
        else:
            decl.append(f"{q(col.name)} {col.type.compile(dialect=dialect)}")
            cols.append(f"r.{q(col.name)}")
    return f"json_to_recordset(CAST(:rows AS json)) AS r({', '.join(decl)})", ", ".join(cols)


def rows_param(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {"rows": dumps(rows)}


def same_keys(rows: list[dict[str, Any]]) -> tuple[str, ...]:
    keys = tuple(rows[0])
    if any(tuple(r) != keys for r in rows):
        raise ValueError("rows of one statement must have the same columns")
    return keys


def insert_from_json(s: Session, table, rows: list[dict[str, Any]], tail: str, returning: str | None = None):
    """INSERT the rows (PostgreSQL) in one statement; `tail`: its ON CONFLICT clause; returns
    the RETURNING result (when asked for)."""
    keys = same_keys(rows)
    q = s.get_bind().dialect.identifier_preparer.quote
    source, values = recordset(s, table, keys)
    sql = (f"INSERT INTO {table.name} ({', '.join(q(table.c[k].name) for k in keys)}) SELECT {values} FROM {source} "
           f"{tail}" + (f" RETURNING {returning}" if returning else ""))
    return s.connection().execute(text(sql), rows_param(rows))


_UPSERT_SQL: dict[Any, str] = {}


def upsert_from_json(s: Session, stmt, rows: list[dict[str, Any]]) -> None:
    """Run an `INSERT ... ON CONFLICT DO UPDATE` statement (SQLAlchemy's PostgreSQL insert) for
    all `rows` at once: its conflict clause after an INSERT ... SELECT from the rows as one JSON
    parameter. The rows must have distinct keys (one row may not be updated twice)."""
    keys = same_keys(rows)
    sql = _UPSERT_SQL.get((stmt, keys))
    if sql is None:
        table = stmt.table
        q = s.get_bind().dialect.identifier_preparer.quote
        source, values = recordset(s, table, keys)
        conflict = str(stmt.compile(dialect=s.get_bind().dialect)).split(" ON CONFLICT ", 1)[1]
        sql = _UPSERT_SQL[(stmt, keys)] = (f"INSERT INTO {table.name} ({', '.join(q(table.c[k].name) for k in keys)}) "
                                           f"SELECT {values} FROM {source} ON CONFLICT {conflict}")
    s.connection().execute(text(sql), rows_param(rows))
