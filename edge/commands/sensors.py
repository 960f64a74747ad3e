"""`python -m edge sensors --config S.yaml`: the sensor bridge (edge.sensors), IoT messages ->
alerts over MQTT, through the same spool as cameras."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from camera_profiles import ProfileError
from common.lockfile import InUseError, hold
from common.logs import setup_logging
from edge.sensors.bridge import BridgeApp
from edge.sensors.config import ConfigError, load_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, metavar="S.yaml", help="sensor bridge configuration")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def main(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    try:
        cfg = load_config(args.config)
        _locks = [hold(cfg.spool, "spool"), hold(cfg.state, "rule state")]  # noqa: F841 -- held until exit
        app = BridgeApp(cfg, base=Path(args.config).parent)
    except (ConfigError, ProfileError, ValueError, InUseError) as e:   # a camera profile for Home Assistant, a bad MQTT url
        print(f"error: {e}", file=sys.stderr)
        return 2
    logging.getLogger("gridwatch.sensors").info("spool %s, rule state %s", Path(cfg.spool).resolve(),
                                                 Path(cfg.state).resolve())
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        app.start()
        while not stop.wait(cfg.tick_s):
            app.step()
    finally:
        app.stop()
    print("sensor bridge summary: " + ", ".join(f"{k}={v}" for k, v in app.bridge.summary().items()), flush=True)
    return 0
