"""The outbox relay's process: `run_relay` publishes until told to stop, and `RelayChild` runs it
as a supervised child process of `serve` (restarted with backoff, gone when `serve` is)."""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading

from common.backoff import Backoff
from common.logs import setup_logging
from gateway.config import Settings
from gateway.db import Database
from gateway.outbox.relay import OutboxRelay

log = logging.getLogger("gridwatch.relay")


def run_relay(settings: Settings, stop, parent_pid: int | None = None, signalled=lambda: False) -> None:
    """Relay until `stop` (a threading or multiprocessing Event) is set or `signalled()`, or, for the
    child of `serve`, until that parent is gone (even SIGKILLed: the child must not outlive it)."""
    db = Database(settings.db_url)
    db.upgrade()
    relay = OutboxRelay.from_settings(settings, db)
    relay.start()
    log.info("outbox relay publishing to %s (prefix %s)", settings.mqtt_url, settings.mqtt_prefix)
    try:
        while not stop.wait(1.0) and not signalled():  # a timed wait: signals are handled between waits
            if parent_pid is not None and os.getppid() != parent_pid:
                log.warning("outbox relay: serve (pid %d) is gone; stopping", parent_pid)
                break
    finally:
        relay.stop()
        db.dispose()
        log.info("outbox relay stopped: %d sent, %d failed attempts", relay.sent, relay.failed)


class RelayChild:
    """The outbox relay as a child process of `serve` (the default): publishing incident events
    then never competes with the ingest for one interpreter lock (measured: the gateway's
    throughput, bench delivery, 0.48-0.50 of the broker alone with the relay as a thread,
    0.54-0.61 as a process). Restarted with backoff should it die."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self._stop = self._ctx.Event()
        self._proc = None
        self._watch: threading.Thread | None = None

    def start(self) -> "RelayChild":
        self._spawn()
        self._watch = threading.Thread(target=self._supervise, name="relay-watch", daemon=True)
        self._watch.start()
        return self

    def _spawn(self) -> None:
        self._proc = self._ctx.Process(target=_child, args=(self.settings, self._stop, os.getpid()),
                                       name="gridwatch-relay", daemon=True)
        self._proc.start()

    def _supervise(self) -> None:
        backoff = Backoff(initial_s=1.0, max_s=60.0)
        while not self._stop.wait(1.0):
            if self._proc.is_alive():
                continue
            delay = backoff.next()
            log.error("outbox relay process exited (code %s); restarting in %.0fs", self._proc.exitcode, delay)
            if self._stop.wait(delay):
                break
            self._spawn()

    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    def stop(self, timeout: float = 20.0) -> None:
        self._stop.set()
        if self._watch:
            self._watch.join(5)
        if self._proc is not None:
            self._proc.join(timeout)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(5)


def _child(settings: Settings, stop, parent_pid: int) -> None:
    setup_logging()
    # serve stops it (`stop`), a Ctrl-C of the group too. The handler only notes the signal: setting
    # the shared Event from it would take that Event's lock, which the interrupted `stop.wait` may
    # hold, and both processes would hang on it for good.
    signalled = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: signalled.set())
    run_relay(settings, stop, parent_pid, signalled.is_set)
