"""Fixtures of the fault tests: a broker that keeps sessions across restarts, a migrated
database, and a private PostgreSQL that may be restarted."""
from __future__ import annotations

import pytest

from gateway.db import Database
from tests.support.alert_stream import durable
from tests.support.private_pg import PrivatePostgres


@pytest.fixture
def fault_broker(own_broker):
    return durable(own_broker)


def _migrated(url: str) -> str:
    # Migrate once up front: replicas starting together would otherwise race on the schema.
    db = Database(url)
    db.upgrade()
    db.dispose()
    return url


@pytest.fixture
def fault_db(pg_url):
    return _migrated(pg_url)


@pytest.fixture
def private_pg():
    pg = PrivatePostgres().start()
    pg.create_database()
    _migrated(pg.url)
    yield pg
    pg.close()
