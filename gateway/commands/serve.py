"""`python -m gateway serve`: MQTT ingest, deadline timers, the media retention loop and the
HTTP API (with the console) in one process, and the outbox relay in a child process of its own
(gateway.outbox.child.RelayChild says why); stops cleanly on SIGINT/SIGTERM. `serve --no-relay` leaves
the outbox to `python -m gateway relay` processes run elsewhere."""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import signal
import threading
from datetime import UTC, datetime, timedelta

import uvicorn

from common.logs import setup_logging
from gateway.config import Settings, add_config_argument
from gateway.db import Database

log = logging.getLogger("gridwatch.serve")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_argument(p)
    p.add_argument("--host", help="HTTP host (GRIDWATCH_HTTP_HOST)")
    p.add_argument("--port", type=int, help="HTTP port (GRIDWATCH_HTTP_PORT)")
    p.add_argument("--no-ingest", action="store_true", help="API only (no MQTT ingest)")
    p.add_argument("--no-relay", action="store_true",
                   help="leave the outbox to a `python -m gateway relay` process (GRIDWATCH_OUTBOX_RELAY=false)")


def _import_grids_at_start(settings: Settings, db: Database) -> None:
    from gateway.db.grids import import_grids

    with db.session() as s:
        summary = import_grids(s, json.loads(settings.grids.read_text()), datetime.now(UTC), actor="serve",
                               allow_unstaffed=settings.grids_allow_unstaffed)
    if summary["added"] or summary["updated"] or summary["removed"]:
        log.info("grids from %s: %d added, %d updated, %d removed", settings.grids, len(summary["added"]),
                 len(summary["updated"]), len(summary["removed"]))
    for w in summary["warnings"]:
        log.warning("grids from %s: %s", settings.grids, w)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (it re-raises the signal after shutdown,
    which would kill the process before ingest, timers and relay are stopped)."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


def run(settings: Settings, *, stop_event: threading.Event | None = None, ingest: bool = True) -> None:
    """Run everything until SIGINT/SIGTERM (main thread) or until `stop_event` is set."""
    from gateway.api.media import start_retention
    from gateway.app import create_app
    from gateway.incidents.service import IncidentService
    from gateway.incidents.timers import TimerWorker
    from gateway.media.legacy import adopt_legacy_files
    from gateway.mqtt.intake import Ingestor
    from gateway.outbox.channels import parse_channels
    from gateway.outbox.child import RelayChild

    try:  # the relay child reads them too: a broken entry must stop serve here, by name
        channels = parse_channels(settings.notifications)
    except ValueError as e:
        raise SystemExit(f"notifications: {e}") from None
    if channels:
        log.info("notifications: %s", ", ".join(f"{c.name} ({c.kind})" for c in channels))
    db = Database(settings.db_url)
    db.upgrade()
    if settings.grids:
        _import_grids_at_start(settings, db)
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    service = IncidentService.from_settings(settings, db)
    adopt_legacy_files(db, service.media)
    ingestor = Ingestor(settings, db, service) if ingest else None
    timers = TimerWorker(db, service, interval_s=settings.timer_interval_s,
                         warn_before=timedelta(minutes=settings.deadline_warn_minutes))
    relay = RelayChild(settings) if settings.outbox_relay else None
    app = create_app(settings, db, service=service, ingestor=ingestor)
    server = _Server(uvicorn.Config(app, host=settings.http_host, port=settings.http_port,
                                    log_level="warning", lifespan="on",
                                    timeout_graceful_shutdown=5))  # open event streams must not hold a stop
    stop_event = stop_event or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop_event.set())

    def watch() -> None:
        stop_event.wait()
        server.should_exit = True

    threading.Thread(target=watch, name="stop-watch", daemon=True).start()
    # first, so a bad retention policy stops the start before anything else runs
    retention = start_retention(app, settings.media_retention_interval_s)
    # what start-up built (modules, the app, the grids) lives as long as the process: keep it out
    # of the garbage collector's full passes, which would otherwise stall the first alerts by ~0.1 s
    gc.collect()
    gc.freeze()
    if ingestor:
        ingestor.start()
    timers.start()
    if relay:
        relay.start()
    log.info("gateway serving on http://%s:%d (mqtt %s, prefix %s)", settings.http_host, settings.http_port,
             settings.mqtt_url, settings.mqtt_prefix)
    try:
        server.run()
    finally:
        if ingestor:
            ingestor.stop()
        timers.stop()
        if relay:
            relay.stop()
        retention.stop()
        db.dispose()
        log.info("gateway stopped")


def main(args: argparse.Namespace) -> int:
    setup_logging()
    overrides = {k: v for k, v in (("http_host", args.host), ("http_port", args.port)) if v is not None}
    if args.no_relay:
        overrides["outbox_relay"] = False
    settings = Settings.load(args.config, **overrides)
    run(settings, ingest=not args.no_ingest)
    return 0
