"""Fault tests around the edge: SIGKILL it with unsent alerts in its spool, cut it off the
broker like a firewall would. The gateway and the other edge keep running throughout."""
from __future__ import annotations

import sqlite3
import time

import pytest

from tests.faults.harness import (
    GRID,
    LONG,
    GatewayProcess,
    assert_exact,
    finish_streams,
    wait_stored,
)
from tests.faults.netcut import NetCut
from tests.support.alert_stream import StreamProcess
from tests.support.waiting import wait_for

REPEAT = 2


def _spooled(path) -> int:
    """Rows in an edge's spool, read from outside while the edge runs (WAL allows it)."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as c:
            return c.execute("SELECT count(*) FROM spool").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _streams(tmp_path, prefix, urls: dict[str, str], per_edge: int, seconds: float) -> dict[str, StreamProcess]:
    return {edge: StreamProcess(url, prefix, edge, tmp_path / f"{edge}.spool.db", per_edge, seconds, REPEAT,
                                grid=GRID, log_path=tmp_path / f"{edge}.log").start()
            for edge, url in urls.items()}


@pytest.mark.parametrize("per_edge,seconds", [pytest.param(120, 4.0, id="short"),
                                              pytest.param(2500, 30.0, id="long", marks=LONG)])
def test_edge_sigkilled_with_unsent_alerts_resumes_its_spool(fault_broker, fault_db, prefix, tmp_path,
                                                             per_edge, seconds):
    gw = GatewayProcess(tmp_path, fault_broker.url, prefix, fault_db).start()
    link = NetCut(fault_broker.port)  # edge-a's own line to the broker
    streams = _streams(tmp_path, prefix, {"edge-a": link.url, "edge-b": fault_broker.url}, per_edge, seconds)
    spool_a = tmp_path / "edge-a.spool.db"
    try:
        wait_stored(fault_db, per_edge // 4, 60 + seconds, [gw])
        link.cut()
        wait_for(lambda: _spooled(spool_a) >= 10, 30, "unsent alerts piling up in edge-a's spool")
        streams["edge-a"].kill()  # SIGKILL with unsent (and unacknowledged in-flight) alerts
        unsent = _spooled(spool_a)
        assert unsent >= 10
        link.restore()
        streams["edge-a"].start()  # resumes: first the spool, then the rest of the stream
        assert finish_streams(list(streams.values()), 240 + seconds) > 0
        wait_stored(fault_db, 2 * per_edge, 180 + 2 * per_edge / 5, [gw])
        assert_exact(fault_db, {"edge-a": per_edge, "edge-b": per_edge}, REPEAT)
        assert streams["edge-a"].lines[0]["resumed_at"] > 0
    finally:
        for s in streams.values():
            s.kill()
        link.close()
        gw.stop()


@pytest.mark.parametrize("per_edge,seconds,outage", [
    pytest.param(120, 4.0, 5.0, id="short", marks=pytest.mark.slow),
    pytest.param(2500, 30.0, 60.0, id="long", marks=LONG)])
def test_edge_loses_the_broker_and_recovers(fault_broker, fault_db, prefix, tmp_path, per_edge, seconds, outage):
    gw = GatewayProcess(tmp_path, fault_broker.url, prefix, fault_db).start()
    link = NetCut(fault_broker.port)
    streams = _streams(tmp_path, prefix, {"edge-a": link.url, "edge-b": fault_broker.url}, per_edge, seconds)
    spool_a = tmp_path / "edge-a.spool.db"
    try:
        wait_stored(fault_db, per_edge // 4, 60 + seconds, [gw])
        link.cut()  # packets dropped silently: the edge finds out only by its keepalive
        time.sleep(outage)
        grown = _spooled(spool_a)
        link.restore()
        assert finish_streams(list(streams.values()), 240 + seconds + outage) == 2 * per_edge
        wait_stored(fault_db, 2 * per_edge, 180 + 2 * per_edge / 5, [gw])
        assert_exact(fault_db, {"edge-a": per_edge, "edge-b": per_edge}, REPEAT)
        assert grown > 0, "the spool should have grown during the outage"
    finally:
        for s in streams.values():
            s.kill()
        link.close()
        gw.stop()
