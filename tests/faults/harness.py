"""What the fault tests share: the gateway as a real process, and the final count.

Every fault test drives known streams of alerts (tests/support/alert_stream.py), breaks
something on purpose, and then checks, in the database: every alert sent is stored exactly
once, the incidents are exactly those expected, each incident counts exactly its alerts,
and nothing valid went to the dead-letter table.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text

from gateway.db.models import AlertRow, DeadLetter, Incident
from tests.support.alert_stream import (
    StreamProcess,
    expected_incidents,
    stream_alert_id,
)
from tests.support.services import REPO, free_port, wait_port

GRIDS = REPO / "gateway" / "examples" / "grids.geojson"
# The long variants: 5,000 alerts over 30 s; they wait for a gateway that is slow on a busy machine.
LONG = [pytest.mark.slow, pytest.mark.timeout(1800)]
GRID = "G-03-07"  # every stream alert names this grid (grid_hint), so incidents are routed


class GatewayProcess:
    """`python -m gateway serve` as a child process, so a test can SIGKILL and restart it."""

    command = "serve"

    def __init__(self, tmp_path: Path, broker_url: str, prefix: str, db_url: str, *,
                 name: str = "gw", shared_group: str | None = None, relay: bool = True):
        self.name = name
        self.port = free_port()
        self.log_path = tmp_path / f"{name}.log"
        self.env = {**os.environ,
                    "GRIDWATCH_DB_URL": db_url, "GRIDWATCH_MQTT_URL": broker_url,
                    "GRIDWATCH_MQTT_PREFIX": prefix, "GRIDWATCH_MQTT_CLIENT_ID": f"{prefix}-{name}",
                    "GRIDWATCH_HTTP_HOST": "127.0.0.1", "GRIDWATCH_HTTP_PORT": str(self.port),
                    "GRIDWATCH_ADMIN_TOKEN": "fault-admin", "GRIDWATCH_MEDIA_DIR": str(tmp_path / f"media-{name}"),
                    "GRIDWATCH_GRIDS": str(GRIDS), "GRIDWATCH_OUTBOX_INTERVAL_S": "0.2",
                    "PYTHONUNBUFFERED": "1"}
        if shared_group:
            self.env["GRIDWATCH_MQTT_SHARED_GROUP"] = shared_group
        if not relay:  # a RelayProcess publishes the outbox
            self.env["GRIDWATCH_OUTBOX_RELAY"] = "false"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> "GatewayProcess":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway", self.command], cwd=REPO, env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        wait_port(self.port, timeout=timeout)
        self.wait_mqtt(timeout)

    def wait_mqtt(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc and self.proc.poll() is None, f"gateway {self.name} exited:\n{self.tail()}"
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).json().get("mqtt"):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"gateway {self.name} did not connect to MQTT in {timeout}s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye; uncommitted work is simply gone."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def alive(self) -> bool:
        return bool(self.proc and self.proc.poll() is None)

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


class RelayProcess(GatewayProcess):
    """`python -m gateway relay`: the outbox relay on its own (beside `serve --no-relay`)."""
    command = "relay"

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while "outbox relay publishing" not in self.tail():
            assert self.alive(), f"relay {self.name} exited:\n{self.tail()}"
            assert time.monotonic() < deadline, f"relay {self.name} did not start in {timeout}s:\n{self.tail()}"
            time.sleep(0.1)


@dataclass
class Tally:
    alerts: int          # rows in `alerts`
    incidents: int       # rows in `incidents`
    alert_count: int     # sum of incidents.alert_count
    dead_letters: int
    ids: set[str]


def tally(db_url: str) -> Tally:
    eng = create_engine(db_url)
    try:
        with eng.connect() as c:
            return Tally(alerts=c.scalar(select(func.count()).select_from(AlertRow)),
                         incidents=c.scalar(select(func.count()).select_from(Incident)),
                         alert_count=c.scalar(select(func.coalesce(func.sum(Incident.alert_count), 0))),
                         dead_letters=c.scalar(select(func.count()).select_from(DeadLetter)),
                         ids=set(c.scalars(select(AlertRow.id))))
    finally:
        eng.dispose()


def stored_alerts(db_url: str) -> int:
    """Rows in `alerts`, or -1 while the database is unreachable (it may be restarting)."""
    eng = create_engine(db_url)
    try:
        with eng.connect() as c:
            return c.scalar(text("SELECT count(*) FROM alerts"))
    except Exception:
        return -1
    finally:
        eng.dispose()


def wait_stored(db_url: str, n: int, timeout: float, gateways: list[GatewayProcess] = ()) -> None:
    deadline = time.monotonic() + timeout
    seen = -1
    while time.monotonic() < deadline:
        seen = stored_alerts(db_url)
        if seen >= n:
            return
        time.sleep(0.25)
    logs = "\n".join(f"--- {g.name}\n{g.tail()}" for g in gateways)
    raise AssertionError(f"only {seen} of {n} alerts stored after {timeout}s\n{logs}")


def finish_streams(streams: list[StreamProcess], timeout: float) -> int:
    """Waits for every edge to finish and flush; returns how many alerts they published."""
    published = 0
    for s in streams:
        report = s.wait(timeout)
        assert report["flushed"], f"edge could not flush its spool: {report}"
        published += report["published"]
    return published


def assert_exact(db_url: str, expected: dict[str, int], repeat: int, *, dead_letters: int = 0) -> Tally:
    """Sent = stored = expected: each alert id exactly once, the incidents exactly those
    the streams imply, and each incident counting exactly its own alerts."""
    time.sleep(1.0)  # a late duplicate, had one slipped through, would land by now
    t = tally(db_url)
    want_ids = {stream_alert_id(edge, i) for edge, n in expected.items() for i in range(n)}
    missing, extra = want_ids - t.ids, t.ids - want_ids
    assert not missing, f"{len(missing)} alert(s) lost, e.g. {sorted(missing)[:5]}"
    assert not extra, f"{len(extra)} unexpected alert row(s), e.g. {sorted(extra)[:5]}"
    assert t.alerts == len(want_ids)
    assert t.incidents == sum(expected_incidents(n, repeat) for n in expected.values()), \
        f"{t.incidents} incidents, expected {sum(expected_incidents(n, repeat) for n in expected.values())}"
    assert t.alert_count == len(want_ids), f"incidents count {t.alert_count} alerts for {len(want_ids)} stored"
    assert t.dead_letters == dead_letters, f"{t.dead_letters} dead letters, expected {dead_letters}"
    return t


def assert_every_incident_announced(db_url: str, collector, timeout: float = 120) -> None:
    """The outbox delivered: every incident's `opened` event reached MQTT at least once
    (a crash between commit and publish may repeat one, never lose one)."""
    from gateway.db.models import OutboxMessage

    deadline = time.monotonic() + timeout
    eng = create_engine(db_url)
    try:
        while time.monotonic() < deadline:
            with eng.connect() as c:
                pending = c.scalar(select(func.count()).select_from(OutboxMessage)
                                   .where(OutboxMessage.sent_at.is_(None)))
                incidents = set(c.scalars(select(Incident.id)))
            if pending == 0:
                break
            time.sleep(0.5)
    finally:
        eng.dispose()
    assert pending == 0, f"{pending} outbox rows still unsent after {timeout}s"
    time.sleep(0.5)
    announced = {p["incident"]["id"] for p in collector.payloads() if p.get("event") == "opened"}
    missing = incidents - announced
    assert not missing, f"{len(missing)} incident(s) never announced, e.g. {sorted(missing)[:5]}"


def start_streams(broker_url: str, prefix: str, tmp_path: Path, edges: list[str], count: int, seconds: float,
                  repeat: int) -> list[StreamProcess]:
    return [StreamProcess(broker_url, prefix, edge, tmp_path / f"{edge}.spool.db", count, seconds, repeat,
                          grid=GRID, log_path=tmp_path / f"{edge}.log").start() for edge in edges]


def dump(obj) -> str:
    return json.dumps(obj, indent=1, default=str)
