"""The Alembic migrations run both ways on both databases, and leave the schema the models describe."""
from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect

from gateway.db import Database
from gateway.db.models import Base


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_every_migration_goes_down_and_up_again(tmp_path, pg_url, backend):
    db = Database(f"sqlite:///{tmp_path}/gw.db" if backend == "sqlite" else pg_url)
    try:
        db.upgrade()
        fks = lambda: {t: len(inspect(db.engine).get_foreign_keys(t)) for t in ("incident_events", "timers", "people")}  # noqa: E731
        assert fks() == {"incident_events": 0, "timers": 0, "people": 1}  # 0003: no foreign keys on the hot path
        command.downgrade(db.alembic_config(), "base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.upgrade()
        assert fks() == {"incident_events": 0, "timers": 0, "people": 1}
        tables = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert tables == set(Base.metadata.tables)
        for name, table in Base.metadata.tables.items():  # the models' columns are the schema's
            assert {c["name"] for c in inspect(db.engine).get_columns(name)} == set(table.c.keys()), name
    finally:
        db.dispose()
