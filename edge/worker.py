"""`python -m edge run --config EDGE.yaml`: the edge worker.

One thread per camera: capture (newest frame only) -> pipeline (detection) -> publisher
(spool, then MQTT QoS 1). A camera that fails is reported and retried by its own stream;
a broken profile is reported and skipped; neither stops the other cameras.
"""
from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from pathlib import Path

from alerts import Alert
from camera_profiles import CameraProfile, ProfileError, load_profiles
from edge.config import ConfigError, EdgeConfig, load_edge_config
from edge.frames import StreamEvent

log = logging.getLogger("gridwatch.edge")


class CameraWorker(threading.Thread):
    """Runs one camera until `stop` is set; never raises out of its loop."""

    def __init__(self, profile: CameraProfile, edge_id: str, publisher, stop: threading.Event,
                 status_interval_s: float = 30.0, clips=None):
        super().__init__(name=f"camera-{profile.id}", daemon=True)
        self.profile, self.edge_id, self.publisher, self.stop_event = profile, edge_id, publisher, stop
        self.status_interval_s = status_interval_s
        self.clips = clips           # optional edge.clips.ClipRecorder
        self.alerts_sent = 0
        self.pipeline = None
        self._emit_lock = threading.Lock()   # the camera's own ONVIF events arrive on another thread

    def _status(self, status: dict) -> None:
        # the capture's view (state, fps, device) plus the analysis counters, so a camera whose
        # frames fail analysis shows it on the board instead of going quiet
        if self.pipeline is not None:
            status = {**status, "analysis": {"frames": self.pipeline.frames, "errors": self.pipeline.errors,
                                             "last_error": self.pipeline.last_error, "alerts": self.alerts_sent}}
        self.publisher.publish_status(self.profile.id, status)

    def _emit(self, alert: Alert) -> None:
        with self._emit_lock:
            self._emit_locked(alert)

    def _emit_locked(self, alert: Alert) -> None:
        if self.clips is not None:
            ref = self.clips.on_alert(alert)
            if ref:
                # the media go over HTTP; the alert carries references, never the bytes
                update = {"details": {**alert.details, "media": ref}}
                if "snapshot" in ref:
                    update["snapshot"] = ref["snapshot"]["url"]
                alert = alert.model_copy(update=update)
        self.publisher.publish_alert(alert)
        self.alerts_sent += 1

    def run(self) -> None:
        from edge.capture import CameraStream
        from edge.onvif.events import camera_event_listener
        from edge.pipeline import CameraPipeline

        # with clips, the snapshot is uploaded with them; without, it rides inline in the alert
        pipeline = self.pipeline = CameraPipeline(self.profile, self.edge_id, snapshots=self.clips is None)
        stream = CameraStream(self.profile, on_status=self._status)
        stream.start()
        # an ONVIF camera's own motion/tamper/line events become camera_event alerts
        events = camera_event_listener(self.profile, self.edge_id, self._emit)
        if events is not None:
            events.start()
        last_status = 0.0
        try:
            while not self.stop_event.is_set():
                item = stream.get(timeout=0.5)
                now = time.monotonic()
                if now - last_status >= self.status_interval_s:
                    self._status(stream.status)   # keeps fps and last-frame time fresh on the board
                    last_status = now
                if item is None:
                    continue
                try:
                    if isinstance(item, StreamEvent):
                        self._emit(pipeline.stream_alert(item))
                        if item.kind == "restored":
                            pipeline.reset()
                        continue
                    if self.clips is not None:
                        self.clips.push(item)
                    for alert in pipeline.process(item):
                        self._emit(alert)
                except Exception:  # a bug on one frame must not take the camera down
                    log.exception("camera %s: frame processing failed", self.profile.id)
        finally:
            if events is not None:
                events.stop()
            stream.stop()
            if self.clips is not None:
                self.clips.close()     # finishes the clip being recorded, hands it to the uploader


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="edge configuration YAML (DESIGN.md)")
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
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from edge.mqtt import EdgePublisher, MqttSettings

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

    Path(cfg.spool).parent.mkdir(parents=True, exist_ok=True)
    publisher = EdgePublisher(mqtt, cfg.edge_id, cfg.spool)
    publisher.start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    uploader = None
    if cfg.gateway.url:
        from edge.media_upload import MediaUploader

        Path(cfg.media_dir).mkdir(parents=True, exist_ok=True)
        uploader = MediaUploader(cfg.gateway.url, cfg.gateway.token, Path(cfg.media_dir) / "uploads.db",
                                 edge_id=cfg.edge_id).start()

    workers = []
    for prof in cameras:
        if not prof.enabled:
            publisher.publish_status(prof.id, {"state": "disabled", "fps": 0.0})
            continue
        clips = None
        if uploader is not None and prof.clips.enabled:
            from edge.clips import ClipRecorder

            clips = ClipRecorder(prof, Path(cfg.media_dir) / prof.id, on_finished=uploader.enqueue_finished)
        w = CameraWorker(prof, cfg.edge_id, publisher, stop, cfg.status_interval_s, clips=clips)
        w.start()
        workers.append(w)
    log.info("edge %s running %d camera(s), publishing to %s", cfg.edge_id, len(workers), mqtt.url)
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
