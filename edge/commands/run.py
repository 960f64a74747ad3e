"""`python -m edge run --config EDGE.yaml`: the edge worker.

One thread per camera (edge.camera.worker): capture (newest frame only) -> pipeline (detection)
-> publisher (spool, then MQTT QoS 1), and the clip uploader when a gateway is configured. A
camera that fails is reported and retried by its own stream; a broken profile is reported and
skipped; neither stops the other cameras.
"""
from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from camera_profiles import CameraProfile, ProfileError, load_profiles
from common.lockfile import InUseError, hold
from common.logs import setup_logging
from common.mqtt import MqttSettings
from edge.camera.capture import decode_threads
from edge.camera.worker import CameraWorker
from edge.config import ConfigError, EdgeConfig, load_edge_config

log = logging.getLogger("gridwatch.edge")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="edge configuration YAML (docs/design.md)")
    p.add_argument("--log-level", default="INFO")


def load_cameras(cfg: EdgeConfig, base: Path) -> list[CameraProfile]:
    """Every valid profile; each broken one is reported and skipped."""
    good: list[CameraProfile] = []
    for i, entry in enumerate(cfg.cameras):
        try:
            good.extend(load_profiles([entry], base=base))
        except ProfileError as e:
            log.error("skipping camera entry %d: %s", i, e)
    ids = [p.id for p in good]
    for dup in {i for i in ids if ids.count(i) > 1}:
        log.error("camera id %s appears more than once; keeping the first", dup)
    seen: set[str] = set()
    return [p for p in good if not (p.id in seen or seen.add(p.id))]


def main(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    from edge.delivery.publisher import EdgePublisher

    try:
        cfg, base = load_edge_config(args.config)
        mqtt = MqttSettings.model_validate(cfg.mqtt)
    except (ConfigError, ValueError) as e:
        log.error("%s", e)
        return 2
    cameras = load_cameras(cfg, base)
    if not cameras and cfg.cameras:
        log.error("no usable camera profile; nothing to run")
        return 2

    try:
        _spool_lock = hold(cfg.spool, "spool")  # noqa: F841 -- held until the process ends
    except InUseError as e:
        log.error("%s", e)
        return 2
    log.info("spool %s, media %s", Path(cfg.spool).resolve(), Path(cfg.media_dir).resolve())
    publisher = EdgePublisher(mqtt, cfg.edge_id, cfg.spool)
    publisher.start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    uploader = None
    if cfg.gateway.url:
        from edge.delivery.media_upload import MediaUploader

        Path(cfg.media_dir).mkdir(parents=True, exist_ok=True)
        uploader = MediaUploader(cfg.gateway.url, cfg.gateway.token, Path(cfg.media_dir) / "uploads.db",
                                 edge_id=cfg.edge_id).start()

    workers = []
    for prof in cameras:
        if not prof.enabled:
            publisher.publish_status(prof.id, {**prof.identity(), "state": "disabled", "fps": 0.0})
            continue
        clips = None
        if uploader is not None and prof.clips.enabled:
            from edge.camera.clips import ClipRecorder

            # a record stream of its own is there for its detail: keep it up to 1280 px wide
            clips = ClipRecorder(prof, Path(cfg.media_dir) / prof.id, on_finished=uploader.enqueue_finished,
                                 clip_width=1280 if prof.record_stream is not None else 640)
        workers.append(CameraWorker(prof, cfg.edge_id, publisher, stop, cfg.status_interval_s, clips=clips))
    threads = cfg.decode_threads or decode_threads(sum(w.streams for w in workers))
    for w in workers:
        w.decode_threads = threads
        w.start()
    log.info("edge %s running %d camera(s), %d decoder thread(s) a stream, publishing to %s", cfg.edge_id,
             len(workers), threads, mqtt.url)
    while not stop.is_set():
        stop.wait(1.0)
    log.info("stopping")
    for w in workers:
        w.join(timeout=70)      # a camera thread closes its clip recorder (up to a minute of encoding)
    if uploader is not None:
        uploader.stop()         # what is not uploaded yet stays queued for the next start
    publisher.flush(timeout=5)
    publisher.stop("stopped")
    return 0
