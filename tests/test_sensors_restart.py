"""`python -m edge sensors` as a real process: rule state and the MQTT session survive a restart
(SIGTERM) and a crash (SIGKILL) in the middle of a threshold duration: no alarm forgotten,
none raised twice (repeats of an alert carry the same id)."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import yaml
from ulid import ULID

from alerts import parse_alert, topics
from tests.support.alert_stream import Collector
from tests.support.sensors import T0, BridgeProcess, Sender, bridge_config, uplink

REPO = Path(__file__).resolve().parents[1]


def unique(col: Collector) -> list:
    """Alerts in arrival order, repeats of an id dropped (as the gateway does)."""
    seen, out = set(), []
    for m in list(col.messages):
        a = parse_alert(m.payload)
        if a.id not in seen:
            seen.add(a.id)
            out.append(a)
    return out


def test_restart_and_crash_in_the_middle_of_a_threshold_duration(broker, prefix, tmp_path):
    cfg = bridge_config(broker.url, prefix, tmp_path)
    cfg["sensors"][1]["rules"][0]["for_s"] = 600
    path = tmp_path / "sensors.yaml"
    path.write_text(yaml.safe_dump(cfg))
    col = Collector(broker.url, topics.alerts_filter(prefix))
    sender = Sender(broker.url)
    t = lambda s: T0 + timedelta(seconds=s)  # noqa: E731  the uplinks' own times
    try:
        first = BridgeProcess(path)
        sender.send(*uplink(prefix, "u1", t(0), 85))         # above 80: the 600 s start
        summary = first.stop()
        assert "sensor bridge summary" in summary

        sender.send(*uplink(prefix, "u2", t(700), 86))       # sent while the bridge is down
        second = BridgeProcess(path)
        assert col.wait_for(1, 20), "the threshold was forgotten across the restart"
        raised = unique(col)[0]
        assert raised.type.value == "sensor.threshold" and raised.ts == t(700)
        assert ULID.from_str(raised.id).datetime == t(0)       # the episode began before the restart
        # its files are named whole at start, and a second bridge on them is refused, naming the holder
        spool = Path(cfg["spool"]).resolve()
        assert any(f"spool {spool}, rule state {Path(cfg['state']).resolve()}" in line for line in second.log)
        twin = subprocess.run([sys.executable, "-m", "edge", "sensors", "--config", str(path)], cwd=REPO,
                              capture_output=True, text=True, timeout=60)
        assert twin.returncode == 2
        assert f"spool {spool} is in use by another process (pid {second.proc.pid})" in twin.stderr, twin.stderr
        second.stop(signal.SIGKILL)                            # a crash (the kernel lets go of its locks)

        third = BridgeProcess(path)
        sender.send(*uplink(prefix, "u2", t(700), 86))       # the same uplink again
        sender.send(*uplink(prefix, "u3", t(800), 88))       # still high: nothing new
        sender.send(*uplink(prefix, "u4", t(900), 60))       # cleared
        # wait for the clear: anything raised twice would have arrived before it
        end = time.monotonic() + 20
        while not any(a.details["cleared"] for a in unique(col)) and time.monotonic() < end:
            time.sleep(0.05)
        alerts = unique(col)
        assert [(a.type.value, a.details["cleared"]) for a in alerts] == [("sensor.threshold", False),
                                                                          ("sensor.threshold", True)]
        assert alerts[1].details["raised_id"] == raised.id
        out = third.stop()
        counters = dict(kv.split("=") for kv in out.strip().splitlines()[-1].split(": ", 1)[1].split(", "))
        assert int(counters["duplicates"]) >= 1      # u2 again, seen by its deduplicationId
    finally:
        for p in ("first", "second", "third"):
            proc = locals().get(p)
            if proc and proc.proc.poll() is None:
                proc.proc.kill()
        sender.close()
        col.close()
