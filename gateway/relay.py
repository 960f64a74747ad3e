"""`python -m gateway relay`: the outbox relay as its own process, for `serve --no-relay`.

Any number may run against one database (rows are claimed with SKIP LOCKED); each publishes
what the ingest committed, so a relay that is down only delays incident events."""
from __future__ import annotations

import argparse
import logging
import signal
import threading

from gateway.config import Settings, add_config_argument
from gateway.db import Database
from gateway.outbox_relay import OutboxRelay

log = logging.getLogger("gridwatch.relay")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_argument(p)


def run(settings: Settings, stop: threading.Event) -> None:
    db = Database(settings.db_url)
    db.upgrade()
    relay = OutboxRelay.from_settings(settings, db)
    relay.start()
    log.info("outbox relay publishing to %s (prefix %s)", settings.mqtt_url, settings.mqtt_prefix)
    try:
        while not stop.wait(1.0):  # a timed wait: signals are handled between waits
            pass
    finally:
        relay.stop()
        db.dispose()
        log.info("outbox relay stopped: %d sent, %d failed attempts", relay.sent, relay.failed)


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    run(Settings.load(args.config), stop)
    return 0
