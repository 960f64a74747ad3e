"""Delivery figures: edge spool and publisher, and MQTT -> PostgreSQL incidents end to end.

Baselines, measured in the same run on a private Mosquitto:
- broker alone: one QoS 1 paho publisher -> the broker -> one QoS 1 paho subscriber, both in
  this process (messages/s): the median of three for the edge figures, and once more just
  before each gateway run for its ratio (the issue's target: >= 0.5 of it);
- broker -> the gateway's MQTT link alone: the same publisher, and as the subscriber the
  gateway's own client (gmqtt, gateway/mqtt_link.py) in a process of its own, acknowledging at
  once: the ceiling the transport sets on the gateway, also measured before each gateway run.
Figures:
- edge: `EdgePublisher` draining a spool (every alert durable first, removed on PUBACK) for
  several paho in-flight windows (why `max_inflight` defaults to 20);
- gateway: sustained alerts/s from MQTT into committed PostgreSQL incidents, for two streams:
  every alert a new incident (the worst case: each writes an incident, two timeline entries,
  two outbox messages, two timers and an audit entry), and 10 alerts per incident (a camera or
  sensor repeating while its condition lasts); one `serve` (its outbox relay a child process),
  and two `serve` replicas on a shared subscription; the median of ROUNDS runs with the range,
  and how long after the last commit the relays had published every incident event;
- latency from publish to the committed alert and incident (seen by a poller of the database
  every few ms, so it includes up to one poll interval), p50/p99, at an offered 500 alerts/s
  and at half the measured one-gateway throughput.
Spool put rate is shown against an in-memory SQLite put (the cost of durability).
"""
from __future__ import annotations

import contextlib
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

N_BROKER = 5000
N_EDGE = 3000
N_GATEWAY = 6000
ROUNDS = 3  # gateway runs per deployment and stream, each with its own baseline; the median is shown
DEPLOYMENTS = (("1 serve", 1), ("2 serve, shared sub.", 2))  # each serve with its relay child
STREAMS = {"all new incidents": 1, "10 alerts/incident": 10}
BASELINE_RUNS = 3  # the broker alone, median of
LATENCY_RATE = 500.0
LATENCY_SECONDS = 6.0
POLL_S = 0.005


@contextlib.contextmanager
def _publisher(url: str):
    """The QoS 1 paho publisher of every run (MQTT 5, paho's default window of 20), connected."""
    import paho.mqtt.client as mqtt

    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    host, port = url.split("//")[1].split(":")
    pub.connect(host, int(port))
    pub.loop_start()
    try:
        yield pub
    finally:
        pub.loop_stop()
        pub.disconnect()


def _alert_messages(edge: str, prefix: str, n: int, repeat: int = 1) -> list[tuple[str, str]]:
    """(topic, payload) of `n` stream alerts from `edge`, made before the clock starts."""
    from alerts import topics
    from tests.faults.harness import GRID
    from tests.support.alert_stream import stream_alert

    return [(topics.alert(edge, a.source.id, prefix), a.to_json())
            for a in (stream_alert(edge, i, repeat=repeat, grid=GRID) for i in range(n))]


def _broker_alone(url: str, prefix: str, n: int) -> float:
    from tests.support.alert_stream import Collector

    col = Collector(url, f"{prefix}/#")
    messages = _alert_messages("edge-base", prefix, n)
    try:
        with _publisher(url) as pub:
            t0 = time.perf_counter()
            for topic, payload in messages:
                pub.publish(topic, payload, qos=1)
            assert col.wait_for(n, 120), "broker baseline: messages missing"
            return n / (time.perf_counter() - t0)
    finally:
        col.close()


def _spool_puts(tmp: Path, n: int = 2000) -> dict[str, float]:
    from edge.delivery.spool import Spool
    from tests.support.alert_stream import stream_alert

    payload = stream_alert("edge-sp", 0).to_json()
    out = {}
    for name, path, sync in (("memory", None, "OFF"), ("file, synchronous=NORMAL", tmp / "n.db", "NORMAL"),
                             ("file, synchronous=FULL (default)", tmp / "f.db", "FULL")):
        s = Spool(path, synchronous=sync)
        t0 = time.perf_counter()
        for _ in range(n):
            s.put("t/x", payload)
        out[name] = n / (time.perf_counter() - t0)
        s.close()
    return out


def _edge_drain(url: str, prefix: str, tmp: Path, window: int, n: int) -> float:
    """Alerts/s from a full spool to a subscriber through EdgePublisher."""
    from edge.delivery.publisher import EdgePublisher, MqttSettings
    from tests.support.alert_stream import Collector, stream_alert

    edge = f"edge-w{window}"
    col = Collector(url, f"{prefix}/alerts/{edge}/#")
    spool = tmp / f"{edge}.db"
    pre = EdgePublisher(MqttSettings(url="mqtt://127.0.0.1:1", prefix=prefix), edge, spool)
    for i in range(n):  # spooled before any connection: we time the drain only
        pre.publish_alert(stream_alert(edge, i))
    pre.spool.close()
    pub = EdgePublisher(MqttSettings(url=url, prefix=prefix, max_inflight=window), edge, spool)
    t0 = time.perf_counter()
    pub.start()
    assert pub.flush(300) and col.wait_for(n, 60), f"edge drain with window {window} incomplete"
    rate = n / (time.perf_counter() - t0)
    pub.stop()
    col.close()
    return rate


def _broker_to_link(url: str, prefix: str, n: int) -> float:
    """Messages/s from a paho publisher (as in the gateway runs) through the broker to the
    gateway's own MQTT link in a process of its own, acknowledging at once (bare_subscriber)."""
    import subprocess
    import sys

    from tests.support.services import REPO

    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.bare_subscriber", "--url", url, "--topic", f"{prefix}/#",
                             "--count", str(n)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready", "bare subscriber did not start"
        messages = _alert_messages("edge-base", prefix, n)
        with _publisher(url) as pub:
            t0 = time.time()
            for topic, payload in messages:
                pub.publish(topic, payload, qos=1)
            done = proc.stdout.readline().split()
        assert done and done[0] == "done" and int(done[2]) >= n, f"bare subscriber: {done}"
        return n / (float(done[1]) - t0)
    finally:
        proc.wait(30)


def _counts(eng) -> tuple[int, int]:
    """(alerts stored, outbox rows not yet published)"""
    from sqlalchemy import text

    try:
        with eng.connect() as c:
            return (c.scalar(text("SELECT count(*) FROM alerts")),
                    c.scalar(text("SELECT count(*) FROM outbox WHERE sent_at IS NULL")))
    except Exception:  # noqa: BLE001 - not migrated yet
        return -1, -1


def _gateway_rate(broker, db_url: str, prefix: str, tmp: Path, replicas: int, n: int,
                  repeat: int = 1) -> tuple[float, float]:
    """(alerts/s from a burst of `n` alerts published at once to the last one committed with its
    incident; seconds after that until every incident event was published: the relays' lag).
    `repeat`: alerts per incident; `replicas`: `serve` processes (each with its relay) on a
    shared subscription."""
    from sqlalchemy import create_engine

    from tests.faults.harness import GatewayProcess

    group = f"bench{prefix}" if replicas > 1 else None
    gws = [GatewayProcess(tmp, broker.url, prefix, db_url, name=f"bgw{i}", shared_group=group).start()
           for i in range(replicas)]
    eng = create_engine(db_url)
    try:
        messages = _alert_messages(f"edge-{prefix}", prefix, n, repeat)
        with _publisher(broker.url) as pub:
            t0 = time.perf_counter()
            for topic, payload in messages:
                pub.publish(topic, payload, qos=1)
            deadline = time.monotonic() + 300
            while _counts(eng)[0] < n and time.monotonic() < deadline:
                time.sleep(0.05)
            stored, t_stored = _counts(eng)[0], time.perf_counter()
            while _counts(eng)[1] != 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            lag = time.perf_counter() - t_stored
        return stored / (t_stored - t0), lag
    finally:
        eng.dispose()
        for g in gws:
            g.stop()


class _CommitWatcher:
    """Notes when each alert of one edge first becomes visible in the database, i.e. committed
    (its incident commits in the same transaction)."""

    def __init__(self, db_url: str, edge: str):
        import threading

        from sqlalchemy import create_engine

        self.engine = create_engine(db_url)
        self.edge = edge
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        from sqlalchemy import text

        from tests.support.alert_stream import stream_alert_id

        low = 0  # every alert before this index was seen: the poll asks only from there (ids sort by index)
        with self.engine.connect() as c:
            while not self._stop.is_set():
                ids = c.execute(text("SELECT id FROM alerts WHERE edge_id = :e AND id >= :low"),
                                {"e": self.edge, "low": stream_alert_id(self.edge, low)}).scalars().all()
                c.rollback()  # a fresh snapshot for the next poll
                now = time.time()
                for i in ids:
                    self.seen.setdefault(i, now)
                while stream_alert_id(self.edge, low) in self.seen:
                    low += 1
                self._stop.wait(POLL_S)

    def wait_for(self, n: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while len(self.seen) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(self.seen)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.engine.dispose()


def _latency(broker, db_url: str, prefix: str, tmp: Path, rate: float,
             seconds: float) -> tuple[float, float, float, float]:
    """p50, p95, p99 (ms) from publish to the committed alert and incident, and the rate achieved."""
    from alerts import topics
    from tests.faults.harness import GRID, GatewayProcess
    from tests.support.alert_stream import stream_alert

    gw = GatewayProcess(tmp, broker.url, prefix, db_url, name=f"lat{int(rate)}").start()
    edge = f"edge-lat{int(rate)}"
    n = int(rate * seconds)
    watcher = _CommitWatcher(db_url, edge)
    try:
        sent: dict[str, float] = {}
        with _publisher(broker.url) as pub:
            t0 = time.perf_counter()
            for i in range(n):
                a = stream_alert(edge, i, repeat=1, grid=GRID)
                sent[a.id] = time.time()
                pub.publish(topics.alert(edge, a.source.id, prefix), a.to_json(), qos=1)
                delay = t0 + (i + 1) / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            done = watcher.wait_for(n, 300)
            achieved = done / (time.perf_counter() - t0)
        lat = sorted((watcher.seen[i] - sent[i]) * 1000 for i in watcher.seen)
        return (statistics.median(lat), lat[int(0.95 * (len(lat) - 1))], lat[int(0.99 * (len(lat) - 1))],
                achieved)
    finally:
        watcher.close()
        gw.stop()


@contextlib.contextmanager
def _fresh_database():
    """A migrated database of its own for each run, so no run pays for an earlier one's rows."""
    from gateway.db import Database
    from tests.support.services import create_database, drop_database

    url = create_database("gw_bench")
    db = Database(url)
    db.upgrade()
    db.dispose()
    try:
        yield url
    finally:
        drop_database(url)


def run(console: Console) -> None:
    from tests.support.services import MosquittoBroker

    tmp = Path(tempfile.mkdtemp(prefix="gw-bench-delivery-"))
    broker = MosquittoBroker().start()
    try:
        base = statistics.median(_broker_alone(broker.url, f"bd{i}", N_BROKER) for i in range(BASELINE_RUNS))

        t = Table(title="edge: spool puts (durable before publish)")
        t.add_column("spool")
        t.add_column("puts/s", justify="right")
        t.add_column("vs memory", justify="right")
        puts = _spool_puts(tmp)
        for name, r in puts.items():
            t.add_row(name, f"{r:,.0f}", f"{r / puts['memory']:.2f}")
        console.print(t)

        t = Table(title=f"edge: EdgePublisher draining {N_EDGE} spooled alerts (broker alone: {base:,.0f} msg/s)")
        t.add_column("paho max_inflight")
        t.add_column("alerts/s", justify="right")
        t.add_column("vs broker alone", justify="right")
        for window in (1, 20, 100, 1000):
            r = _edge_drain(broker.url, "bd", tmp, window, N_EDGE)
            t.add_row(str(window) + (" (default)" if window == 20 else ""), f"{r:,.0f}", f"{r / base:.2f}")
        console.print(t)

        # This machine's speed drifts by tens of percent within minutes: each gateway run gets
        # its own broker-alone baseline, measured just before it, and every figure is the median
        # of ROUNDS such pairs (with the range), the deployments and streams taking turns.
        cases = [(label, replicas, stream, repeat) for label, replicas in DEPLOYMENTS
                 for stream, repeat in STREAMS.items()]
        runs: dict[tuple, list[tuple[float, float, float, float]]] = {c: [] for c in cases}
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("gateway runs", total=ROUNDS * len(cases))
            for r in range(ROUNDS):
                for case in cases:
                    label, replicas, _, repeat = case
                    tag = f"g{r}{replicas}r{repeat}"
                    before = _broker_alone(broker.url, f"bb{tag}", N_BROKER)
                    link = _broker_to_link(broker.url, f"bl{tag}", N_BROKER)
                    with _fresh_database() as db_url:
                        rate, lag = _gateway_rate(broker, db_url, f"bg{tag}", tmp, replicas, N_GATEWAY, repeat)
                    runs[case].append((rate, rate / before, rate / link, lag))
                    progress.advance(task)
        t = Table(title=f"gateway: MQTT -> PostgreSQL incidents, bursts of {N_GATEWAY} alerts; median of {ROUNDS} runs "
                        f"(range), each against baselines measured just before it (target: >= 0.5 of the broker "
                        f"alone); events lag: after the last commit, until every incident event was published")
        t.add_column("gateway")
        t.add_column("stream")
        t.add_column("alerts/s", justify="right")
        t.add_column("vs broker alone", justify="right")
        t.add_column("vs broker->link", justify="right")
        t.add_column("events lag s", justify="right")
        one = None
        for case, results in runs.items():
            label, _, stream, _ = case

            def col(i: int, results=results) -> list[float]:
                return sorted(x[i] for x in results)

            def med(i: int, col=col) -> float:
                return statistics.median(col(i))

            one = med(0) if one is None else one
            t.add_row(label, stream, f"{med(0):,.0f}", f"{med(1):.2f} ({col(1)[0]:.2f}-{col(1)[-1]:.2f})",
                      f"{med(2):.2f} ({col(2)[0]:.2f}-{col(2)[-1]:.2f})", f"{med(3):.1f}")
        console.print(t)

        t = Table(title=f"gateway: latency publish -> committed alert + incident (one gateway, polled every "
                        f"{POLL_S * 1000:.0f} ms)")
        t.add_column("offered alerts/s")
        t.add_column("achieved", justify="right")
        t.add_column("p50 ms", justify="right")
        t.add_column("p95 ms", justify="right")
        t.add_column("p99 ms", justify="right")
        for rate in (LATENCY_RATE, max(5.0, round(one / 2))):
            with _fresh_database() as db_url:
                p50, p95, p99, achieved = _latency(broker, db_url, f"bl{int(rate)}", tmp, rate,
                                              LATENCY_SECONDS if rate == LATENCY_RATE else 5.0)
            t.add_row(f"{rate:,.0f}", f"{achieved:,.1f}", f"{p50:,.0f}", f"{p95:,.0f}", f"{p99:,.0f}")
        console.print(t)
    finally:
        broker.close()
        shutil.rmtree(tmp, ignore_errors=True)
