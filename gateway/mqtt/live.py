"""The live view's MQTT side: the newest masked JPEG of each watched camera, in memory.

Every gateway replica keeps its own (not a shared subscription): a frame is wanted by the
replica whose page asked for it. Frames are QoS 0 and never stored; wants go out at most every
WANT_EVERY_S per camera, which keeps the edge's interest (10 s there) alive while a page polls.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict

from alerts import topics
from common.mqtt import MqttSettings
from gateway.mqtt.link import MqttLink

WANT_EVERY_S = 3.0
MAX_CAMERAS = 256            # frames kept (the least recently received one goes first)
MAX_FRAME_BYTES = 1 * 2**20  # a live frame is ~50 kB; anything far larger is not one


class LiveFeed:
    """Subscribes to `<prefix>/live/+/+` on a link of its own; `want` asks an edge for frames,
    `latest` returns the newest (jpeg, monotonic time received) of a camera."""

    def __init__(self, settings: MqttSettings, client_id: str):
        self.prefix = settings.prefix
        self._frames: OrderedDict[str, tuple[bytes, float]] = OrderedDict()  # frame topic -> newest
        self._wanted: dict[str, float] = {}   # frame topic -> when its last want went out
        self._lock = threading.Lock()
        self.link = MqttLink(settings, f"{client_id}-live-{uuid.uuid4().hex[:6]}", name="live",
                             subscriptions=(topics.live_frames_filter(self.prefix),), on_message=self._on_message)

    def start(self) -> "LiveFeed":
        self.link.start()
        return self

    def stop(self) -> None:
        self.link.stop()

    def _on_message(self, _link, topic: str, payload: bytes, qos: int, done) -> None:
        if len(payload) > MAX_FRAME_BYTES:
            return
        with self._lock:
            self._frames[topic] = (bytes(payload), time.monotonic())
            self._frames.move_to_end(topic)
            while len(self._frames) > MAX_CAMERAS:
                self._frames.popitem(last=False)

    def want(self, edge_id: str, camera_id: str) -> None:
        """Tell the edge someone watches this camera (at most every WANT_EVERY_S)."""
        frame_topic = topics.live_frame(edge_id, camera_id, self.prefix)
        now = time.monotonic()
        with self._lock:
            if now - self._wanted.get(frame_topic, -float("inf")) < WANT_EVERY_S:
                return
            self._wanted[frame_topic] = now
        if not self.link.publish_now(topics.live_want(edge_id, camera_id, self.prefix), b"1"):
            with self._lock:
                self._wanted.pop(frame_topic, None)   # not connected yet: ask again next time

    def latest(self, edge_id: str, camera_id: str) -> tuple[bytes, float] | None:
        with self._lock:
            return self._frames.get(topics.live_frame(edge_id, camera_id, self.prefix))
