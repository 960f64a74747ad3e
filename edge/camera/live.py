"""The live view, on demand: a watched camera's newest frame, masked here, as a small JPEG.

    gateway: <prefix>/live/<edge>/<camera>/want   (QoS 0, every few seconds while a page shows it)
    edge:    <prefix>/live/<edge>/<camera>        (QoS 0, not retained, at most one JPEG a second)

A camera nobody wants costs one comparison per frame. The frame is scaled first and the
privacy masks (the same polygons) burned into the small image, grown by one pixel so that no
border pixel keeps a blend of masked ones: ~2 ms at 1080p where masking at full size took ~13.
"""
from __future__ import annotations

import logging
import threading
import time

import cv2
import numpy as np

from alerts import topics
from edge.masks import PRIVACY_FILL, polygon_mask

log = logging.getLogger("gridwatch.edge")

WANT_TTL_S = 10.0    # a want keeps a camera live this long (the gateway repeats it every ~3 s)
INTERVAL_S = 1.0     # at most one live frame a second per camera
WIDTH = 640          # live frames are scaled down to this width (never up)
JPEG_QUALITY = 70
_GROW = np.ones((3, 3), np.uint8)   # one pixel around each mask: scaling blends neighbours

_registries: dict[int, "LiveWants"] = {}
_registries_lock = threading.Lock()


class LiveWants:
    """When each camera of one edge was last wanted (monotonic seconds), from one subscription
    to `<prefix>/live/<edge>/+/want` on the edge's publisher."""

    def __init__(self, publisher, edge_id: str, prefix: str):
        self.seen: dict[str, float] = {}  # want topic -> monotonic time of the last want
        self.known: set[str] = set()      # want topics of this edge's cameras: nothing else is kept
        publisher.subscribe(topics.live_wants_filter(edge_id, prefix), self._on_want)

    def _on_want(self, topic: str, _payload: bytes) -> None:
        if topic in self.known:   # a want for a camera we do not run must not grow the map
            self.seen[topic] = time.monotonic()   # paho's thread; a dict store is atomic

    @classmethod
    def of(cls, publisher, edge_id: str) -> "LiveWants":
        """The one registry of this publisher (its cameras share the subscription)."""
        with _registries_lock:
            wants = _registries.get(id(publisher))
            if wants is None:
                wants = _registries[id(publisher)] = cls(publisher, edge_id, publisher.settings.prefix)
            return wants


def encode_live(image: np.ndarray, privacy_masks: list, width: int = WIDTH, quality: int = JPEG_QUALITY) -> bytes:
    """The masked, scaled JPEG of one BGR frame (the caller's frame is left as it was)."""
    h, w = image.shape[:2]
    if w > width:
        small = cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    else:
        small = image.copy()
    if privacy_masks:
        mask = polygon_mask(privacy_masks, small.shape[1], small.shape[0])
        small[cv2.dilate(mask, _GROW) > 0] = PRIVACY_FILL
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


class LiveView:
    """One camera's live frames: `offer(image)` for every frame, from the camera's thread."""

    def __init__(self, publisher, edge_id: str, camera_id: str, privacy_masks: list):
        self.publisher = publisher
        self.privacy_masks = privacy_masks
        self.wants = LiveWants.of(publisher, edge_id)
        prefix = publisher.settings.prefix
        self.want_topic = topics.live_want(edge_id, camera_id, prefix)
        self.frame_topic = topics.live_frame(edge_id, camera_id, prefix)
        self.wants.known.add(self.want_topic)
        self.sent = 0
        self._next_at = 0.0

    def offer(self, image: np.ndarray) -> bool:
        """Publish `image` when the camera is wanted and a second has passed; True if sent."""
        now = time.monotonic()
        if now < self._next_at:
            return False
        if now - self.wants.seen.get(self.want_topic, -float("inf")) > WANT_TTL_S or not self.publisher.connected:
            # unwatched: look again only after a while, so the per-frame cost stays one comparison
            self._next_at = now + 0.25
            return False
        self._next_at = now + INTERVAL_S
        try:
            self.publisher.publish_raw(self.frame_topic, encode_live(image, self.privacy_masks), qos=0)
        except Exception:  # the live view must never cost the frame its detection
            log.exception("live frame of %s failed", self.frame_topic)
            return False
        self.sent += 1
        return True
