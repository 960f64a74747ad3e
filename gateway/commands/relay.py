"""`python -m gateway relay`: the outbox relay as its own process, for `serve --no-relay`.

Any number may run against one database (rows are claimed with SKIP LOCKED); each publishes
what the ingest committed, so a relay that is down only delays incident events."""
from __future__ import annotations

import argparse
import signal
import threading

from common.logs import setup_logging
from gateway.config import Settings, add_config_argument
from gateway.outbox.child import run_relay


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_argument(p)


def main(args: argparse.Namespace) -> int:
    setup_logging()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    run_relay(Settings.load(args.config), stop)
    return 0
