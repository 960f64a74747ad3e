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
from common.threads import name_this_thread
from edge.camera.frames import StreamEvent

log = logging.getLogger("gridwatch.edge")


class CameraWorker(threading.Thread):
    """Runs one camera until `stop` is set; never raises out of its loop."""

    def __init__(self, profile: CameraProfile, edge_id: str, publisher, stop: threading.Event,
                 status_interval_s: float = 30.0, clips=None, decode_threads: int | None = None):
        super().__init__(name=f"camera-{profile.id}", daemon=True)
        self.profile, self.edge_id, self.publisher, self.stop_event = profile, edge_id, publisher, stop
        self.status_interval_s = status_interval_s
        self.clips = clips           # optional edge.camera.clips.ClipRecorder
        self.decode_threads = decode_threads  # FFmpeg threads per stream (None: OpenCV's default)
        self.alerts_sent = 0
        self.pipeline = None
        self._emit_lock = threading.Lock()   # the camera's own ONVIF events arrive on another thread
        self.record = None           # a second CameraStream feeding the clips (record_source), if any
        self._detect_status: dict = {}

    def _status(self, status: dict) -> None:
        # the capture's view (state, fps, device) plus the analysis counters, so a camera whose
        # frames fail analysis shows it on the board instead of going quiet
        if self.pipeline is not None:
            status = {**status, "analysis": {"frames": self.pipeline.frames, "errors": self.pipeline.errors,
                                             "last_error": self.pipeline.last_error, "alerts": self.alerts_sent}}
        if self.record is not None:
            self._detect_status = status
            status = {**status, "record": self.record.status}
        self._publish(status)

    def _publish(self, status: dict) -> None:
        # who and where the camera is rides in every status: the gateway names it and files it under
        # its grid (and on the map) before its first alert
        self.publisher.publish_status(self.profile.id, {**self.profile.identity(), **status})

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

        name_this_thread(f"det:{self.profile.id}")
        # with clips, the snapshot is uploaded with them; without, it rides inline in the alert
        pipeline = self.pipeline = CameraPipeline(self.profile, self.edge_id, snapshots=self.clips is None)
        stream = CameraStream(self.profile, on_status=self._status, threads=self.decode_threads)
        stream.start()
        recorder = self._start_record_stream(CameraStream)
        # a publisher that cannot subscribe (a test's or a replay's collector) has no one watching
        live = (LiveView(self.publisher, self.edge_id, self.profile.id, self.profile.privacy_masks)
                if hasattr(self.publisher, "subscribe") else None)
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
                    if self._clips_from_detect() and self.clips.recording and stream.state == "stopped":
                        self.clips.finish()   # a file that ended: its last clip is complete
                    continue
                try:
                    if isinstance(item, StreamEvent):
                        if item.kind == "lost" and self._clips_from_detect():
                            self.clips.finish()
                        self._emit(pipeline.stream_alert(item))
                        if item.kind == "restored":
                            pipeline.reset()
                        continue
                    if live is not None:
                        live.offer(item.image)   # one comparison unless someone watches this camera
                    if self._clips_from_detect():
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
            if recorder is not None:
                self.record.stop()
                recorder.join(5.0)
            if self.clips is not None:
                self.clips.close()     # finishes the clip being recorded, hands it to the uploader

    # ---- the record stream: clips from the main stream while detection reads the sub one ----
    @property
    def streams(self) -> int:
        """Streams this camera decodes: the detect stream, and a record stream of its own for clips."""
        return 1 + self._records()

    def _records(self) -> bool:
        return self.clips is not None and self.profile.record_stream is not None and self.profile.clips.enabled

    def _start_record_stream(self, stream_cls) -> threading.Thread | None:
        source = self.profile.record_stream
        if not self._records():
            return None
        self.clips.by_ts = True   # alert frame indices count the detect stream's frames, not these
        self.record = stream_cls(self.profile, on_status=self._record_status, source=source, role="record",
                                 threads=self.decode_threads)
        self.record.start()
        t = threading.Thread(target=self._feed_clips, name=f"record-{self.profile.id}", daemon=True)
        t.start()
        return t

    def _clips_from_detect(self) -> bool:
        # a record stream of its own ends its clips on its own frames (or its own loss)
        return self.clips is not None and (self.record is None or self.record.state == "shared")

    def _record_status(self, status: dict) -> None:
        # the record stream's state rides in the camera's status; detection goes on without it
        if self._detect_status:
            self._publish({**self._detect_status, "record": status})

    def _feed_clips(self) -> None:
        record = self.record
        while not self.stop_event.is_set() and record.state != "shared":
            item = record.get(timeout=0.5)
            if item is None:
                continue
            with self._emit_lock:   # on_alert reads the ring on the detection thread
                if isinstance(item, StreamEvent):
                    if item.kind == "lost":
                        log.warning("camera %s: record stream lost, clips wait for it", self.profile.id)
                        self.clips.finish()
                    continue
                self.clips.push(item)
