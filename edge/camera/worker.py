"""The camera worker: one thread per camera (`python -m edge run` starts them).

Each thread: capture (newest frame only) -> pipeline (detection) -> publisher
(spool, then MQTT QoS 1). A camera that fails is reported and retried by its own stream;
a broken profile is reported and skipped; neither stops the other cameras.
"""
from __future__ import annotations

import logging
import threading
import time

from alerts import Alert
from camera_profiles import CameraProfile
from edge.camera.frames import StreamEvent

log = logging.getLogger("gridwatch.edge")


class CameraWorker(threading.Thread):
    """Runs one camera until `stop` is set; never raises out of its loop."""

    def __init__(self, profile: CameraProfile, edge_id: str, publisher, stop: threading.Event,
                 status_interval_s: float = 30.0, clips=None):
        super().__init__(name=f"camera-{profile.id}", daemon=True)
        self.profile, self.edge_id, self.publisher, self.stop_event = profile, edge_id, publisher, stop
        self.status_interval_s = status_interval_s
        self.clips = clips           # optional edge.camera.clips.ClipRecorder
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
        from edge.camera.capture import CameraStream
        from edge.camera.live import LiveView
        from edge.camera.pipeline import CameraPipeline
        from edge.onvif.events import camera_event_listener

        # with clips, the snapshot is uploaded with them; without, it rides inline in the alert
        pipeline = self.pipeline = CameraPipeline(self.profile, self.edge_id, snapshots=self.clips is None)
        stream = CameraStream(self.profile, on_status=self._status)
        stream.start()
        live = LiveView(self.publisher, self.edge_id, self.profile.id, self.profile.privacy_masks)
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
                    if self.clips is not None and self.clips.recording and stream.status["state"] == "stopped":
                        self.clips.finish()   # a file that ended: its last clip is complete
                    continue
                try:
                    if isinstance(item, StreamEvent):
                        if self.clips is not None and item.kind == "lost":
                            self.clips.finish()
                        self._emit(pipeline.stream_alert(item))
                        if item.kind == "restored":
                            pipeline.reset()
                        continue
                    live.offer(item.image)   # one comparison unless someone watches this camera
                    if self.clips is not None:
                        self.clips.push(item)
                    for alert in pipeline.process(item):
                        self._emit(alert)
                    if self.clips is not None and pipeline.moving:
                        self.clips.keep_alive(item.ts)   # one clip per event, not one per alert
                except Exception:  # a bug on one frame must not take the camera down
                    log.exception("camera %s: frame processing failed", self.profile.id)
        finally:
            if events is not None:
                events.stop()
            stream.stop()
            if self.clips is not None:
                self.clips.close()     # finishes the clip being recorded, hands it to the uploader
