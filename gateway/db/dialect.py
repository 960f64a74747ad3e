"""INSERT ... ON CONFLICT for both databases the gateway runs on (PostgreSQL and SQLite)."""
from __future__ import annotations

from sqlalchemy.orm import Session


def insert(s: Session, model):
    """The dialect's INSERT (PostgreSQL or SQLite), which knows ON CONFLICT."""
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(model)


def insert_ignore(s: Session, model, conflict: tuple[str, ...] | None = None, where=None):
    """INSERT ... ON CONFLICT DO NOTHING on PostgreSQL and SQLite."""
    stmt = insert(s, model)
    if conflict:
        return stmt.on_conflict_do_nothing(index_elements=list(conflict), index_where=where)
    return stmt.on_conflict_do_nothing()
