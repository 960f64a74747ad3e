"""Shared fixtures: real Mosquitto, real PostgreSQL, real footage."""
from __future__ import annotations

import pytest

from tests.support.services import (
    TREE,
    VTEST,
    MosquittoBroker,
    create_database,
    drop_database,
)


@pytest.fixture(scope="session")
def broker():
    """A private Mosquitto for the whole test session (tests use their own topic prefixes)."""
    b = MosquittoBroker().start()
    yield b
    b.close()


@pytest.fixture
def own_broker():
    """A Mosquitto of the test's own, for tests that stop or restart it."""
    b = MosquittoBroker().start()
    yield b
    b.close()


@pytest.fixture
def pg_url():
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    url = create_database()
    yield url
    drop_database(url)


@pytest.fixture
def sqlite_db(tmp_path):
    """An empty, migrated SQLite gateway database of the test's own."""
    from gateway.db import Database

    d = Database(f"sqlite:///{tmp_path}/gw.db")
    d.upgrade()
    yield d
    d.dispose()


@pytest.fixture(scope="session")
def vtest_path():
    assert VTEST.exists(), f"real footage missing: {VTEST} (../shared/data must sit beside the repo)"
    return VTEST


@pytest.fixture(scope="session")
def tree_path():
    assert TREE.exists(), f"real footage missing: {TREE}"
    return TREE


@pytest.fixture
def camera(vtest_path):
    """The real footage served over RTSP by a GStreamer server of the test's own."""
    from tests.support.rtsp_server import RtspCamera

    with RtspCamera(vtest_path) as cam:
        yield cam


@pytest.fixture
def prefix(request):
    """A topic prefix of the test's own, so tests sharing a broker never see each other's messages."""
    import uuid

    return f"gwt{uuid.uuid4().hex[:8]}"
