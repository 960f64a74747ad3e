"""Fault tests around the gateway and the broker: restart the broker, SIGKILL the gateway,
restart PostgreSQL, lose a replica. Real Mosquitto, real PostgreSQL, real processes.
`short` = 2 edges x 120 alerts over 4 s, `long` = 2 edges x 2,500 alerts over 30 s.
By default the short broker-restart and gateway-SIGKILL tests run; everything else
(PostgreSQL restart, replicas, the long variants) with `make test-slow`."""
from __future__ import annotations

import time

import pytest

from tests.faults.harness import (
    LONG,
    GatewayProcess,
    RelayProcess,
    assert_every_incident_announced,
    assert_exact,
    finish_streams,
    start_streams,
    stored_alerts,
    wait_stored,
)
from tests.support.alert_stream import Collector

EDGES = ["edge-a", "edge-b"]
REPEAT = 2  # two consecutive alerts per source: every incident must end with alert_count 2
SIZES = [pytest.param(120, 4.0, id="short"), pytest.param(2500, 30.0, id="long", marks=LONG)]


def _run(broker, prefix, tmp_path, db_url, per_edge, seconds, fault, gateways):
    total = per_edge * len(EDGES)
    streams = start_streams(broker.url, prefix, tmp_path, EDGES, per_edge, seconds, REPEAT)
    try:
        wait_stored(db_url, total // 4, 60 + seconds, gateways)  # well into the stream
        fault()
        assert finish_streams(streams, 240 + seconds) == total
        wait_stored(db_url, total, 180 + total / 5, gateways)
    finally:
        for s in streams:
            s.kill()
    return assert_exact(db_url, dict.fromkeys(EDGES, per_edge), REPEAT)


@pytest.mark.parametrize("per_edge,seconds", SIZES)
def test_broker_restart_mid_stream(fault_broker, fault_db, prefix, tmp_path, per_edge, seconds):
    gw = GatewayProcess(tmp_path, fault_broker.url, prefix, fault_db).start()
    try:
        _run(fault_broker, prefix, tmp_path, fault_db, per_edge, seconds, fault_broker.restart, [gw])
        assert gw.alive()
    finally:
        gw.stop()


@pytest.mark.parametrize("per_edge,seconds", SIZES)
def test_relay_process_sigkill_mid_stream_and_restart(fault_broker, fault_db, prefix, tmp_path, per_edge, seconds):
    """`serve --no-relay` beside `gateway relay`: serve publishes nothing itself, and a relay
    killed between publishing and marking rows sent (or holding unsent ones) loses no event."""
    gw = GatewayProcess(tmp_path, fault_broker.url, prefix, fault_db, relay=False).start()
    relay = RelayProcess(tmp_path, fault_broker.url, prefix, fault_db, name="relay").start()
    events = Collector(fault_broker.url, f"{prefix}/incidents/#")

    def fault():
        relay.kill()
        time.sleep(0.3)  # what it published just before reaches the subscriber
        n = len(events.payloads())
        time.sleep(1.5)  # serve goes on storing; nobody publishes its events meanwhile
        assert len(events.payloads()) == n, "serve --no-relay published incident events itself"
        relay.start()

    try:
        _run(fault_broker, prefix, tmp_path, fault_db, per_edge, seconds, fault, [gw, relay])
        assert_every_incident_announced(fault_db, events)
    finally:
        events.close()
        relay.stop()
        gw.stop()


@pytest.mark.parametrize("per_edge,seconds", SIZES)
def test_gateway_sigkill_mid_stream_and_restart(fault_broker, fault_db, prefix, tmp_path, per_edge, seconds):
    gw = GatewayProcess(tmp_path, fault_broker.url, prefix, fault_db).start()
    events = Collector(fault_broker.url, f"{prefix}/incidents/#")

    def fault():
        gw.kill()  # also between some incident's commit and its event's publish
        time.sleep(1.0)  # the broker queues for the gateway's persistent session meanwhile
        gw.start()

    try:
        _run(fault_broker, prefix, tmp_path, fault_db, per_edge, seconds, fault, [gw])
        assert_every_incident_announced(fault_db, events)
    finally:
        events.close()
        gw.stop()


@pytest.mark.parametrize("per_edge,seconds", [pytest.param(120, 4.0, id="short", marks=pytest.mark.slow),
                                              pytest.param(2500, 30.0, id="long", marks=LONG)])
def test_postgresql_restart_mid_stream(fault_broker, private_pg, prefix, tmp_path, per_edge, seconds):
    """A private PostgreSQL (never the machine's shared cluster) is restarted under load:
    the gateway holds each alert unacknowledged until its transaction commits."""
    gw = GatewayProcess(tmp_path, fault_broker.url, prefix, private_pg.url).start()
    events = Collector(fault_broker.url, f"{prefix}/incidents/#")

    def fault():
        private_pg.stop("fast")  # every connection is cut
        time.sleep(3.0)
        private_pg.start()

    try:
        _run(fault_broker, prefix, tmp_path, private_pg.url, per_edge, seconds, fault, [gw])
        assert gw.alive()
        assert_every_incident_announced(private_pg.url, events)  # the outbox relay survived it too
    finally:
        events.close()
        gw.stop()


@pytest.mark.parametrize("per_edge,seconds", [pytest.param(120, 4.0, id="short", marks=pytest.mark.slow),
                                              pytest.param(2500, 30.0, id="long", marks=LONG)])
def test_two_replicas_on_a_shared_subscription_one_killed(fault_broker, fault_db, prefix, tmp_path,
                                                          per_edge, seconds):
    group = f"grp{prefix}"
    gws = [GatewayProcess(tmp_path, fault_broker.url, prefix, fault_db, name=n, shared_group=group).start()
           for n in ("gw1", "gw2")]
    progress = {}

    def fault():
        gws[1].kill()
        before = stored_alerts(fault_db)
        time.sleep(3.0)
        progress["while_down"] = stored_alerts(fault_db) - before
        gws[1].start()  # its supervisor restarts it; its session kept what was already its share

    try:
        _run(fault_broker, prefix, tmp_path, fault_db, per_edge, seconds, fault, gws)
        assert progress["while_down"] > 0, "the surviving replica kept ingesting"
    finally:
        for g in gws:
            g.stop()
