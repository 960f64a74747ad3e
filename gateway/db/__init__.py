"""Database access: `Database(url)` with `.session()` and `.upgrade()` (Alembic, migrations/).
Also here: the models (`models`), bulk writes for the ingest (`bulk`), ON CONFLICT for both
dialects (`dialect`), the append-only audit trail (`audit`: every stage writes to it) and the
grids table (`grids`)."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers (API) never block the ingest writer
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class Database:
    def __init__(self, url: str):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine: Engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on an exception."""
        with self._sessions() as s:
            with s.begin():
                yield s

    def upgrade(self, revision: str = "head") -> None:
        quiet = logging.getLogger("alembic")
        if quiet.level == logging.NOTSET:  # its INFO lines (plugins, "Context impl ...") at every start
            quiet.setLevel(logging.WARNING)
        from alembic import command

        command.upgrade(self.alembic_config(), revision)

    def alembic_config(self):
        from alembic.config import Config

        cfg = Config(str(MIGRATIONS.parent / "alembic.ini"))
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["engine"] = self.engine
        return cfg

    def dispose(self) -> None:
        self.engine.dispose()
