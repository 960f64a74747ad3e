"""`python -m edge snapshot --profile P.yaml [--out FILE.jpg]`: save one privacy-masked frame
of a camera, to draw zones and lines on.

An ONVIF camera is asked for its own snapshot (GetSnapshotUri) first; otherwise, or when
that fails, the frame comes through the same capture as analysis (RTSP, ONVIF or file),
after the warm-up so a reconnect's grey frame is not what you draw on. Privacy masks are
burnt in before the JPEG is written, so no masked pixel ever leaves the edge.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from camera_profiles import ProfileError, load_profile
from camera_profiles.schema import OnvifSource
from edge.camera.capture import CameraStream
from edge.camera.frames import Frame, StreamEvent
from edge.masks import apply_privacy_masks


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", required=True, help="camera profile YAML")
    p.add_argument("--out", help="JPEG to write (default: <camera id>.jpg)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a frame (default 30)")
    p.add_argument("--grid", action="store_true", help="draw a 10%% grid to help read normalised coordinates")


def grab_frame(stream: CameraStream, timeout: float) -> tuple[Frame | None, str | None]:
    """The first frame past warm-up (else the last one seen) and the last error, within `timeout`."""
    deadline = time.monotonic() + timeout
    last: Frame | None = None
    error: str | None = None
    while time.monotonic() < deadline:
        item = stream.get(timeout=min(0.5, max(0.0, deadline - time.monotonic())))
        if isinstance(item, Frame):
            last = item
            if not item.fresh:
                return item, None
        elif isinstance(item, StreamEvent) and item.kind == "lost":
            error = item.details.get("reason")
    return last, error if last is None else None


def draw_grid(image):
    h, w = image.shape[:2]
    for i in range(1, 10):
        cv2.line(image, (w * i // 10, 0), (w * i // 10, h - 1), (0, 255, 255), 1)
        cv2.line(image, (0, h * i // 10), (w - 1, h * i // 10), (0, 255, 255), 1)
        cv2.putText(image, f"{i / 10:.1f}", (w * i // 10 + 2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 255, 255), 1)
        cv2.putText(image, f"{i / 10:.1f}", (2, h * i // 10 - 2), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 255, 255), 1)
    return image


def onvif_snapshot(source: OnvifSource, timeout: float) -> np.ndarray | None:
    """The device's own JPEG (GetSnapshotUri): full resolution, no stream to open.
    None when the device has none or it fails; the caller then uses the stream."""
    import httpx

    from edge.onvif.client import OnvifDevice, OnvifError, pick_profile

    try:
        dev = OnvifDevice.from_source(source, timeout)
        uri = dev.snapshot_uri(pick_profile(dev.profiles(), source.profile).token)
        if not uri:
            return None
        with httpx.Client(timeout=timeout) as http:
            r = http.get(uri)
            if r.status_code == 401 and source.username:  # answer the camera's challenge, Digest or Basic
                digest = r.headers.get("www-authenticate", "").lower().startswith("digest")
                auth_cls = httpx.DigestAuth if digest else httpx.BasicAuth
                r = http.get(uri, auth=auth_cls(source.username, source.password or ""))
        if r.status_code != 200:
            return None
        image = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
        return image if image is not None and image.size else None
    except (OnvifError, httpx.HTTPError, ValueError):
        return None


def main(args: argparse.Namespace) -> int:
    try:
        profile = load_profile(args.profile)
    except ProfileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    image = onvif_snapshot(profile.onvif, min(args.timeout, 10.0)) if profile.onvif else None
    origin = "the device's snapshot URI"
    if image is None:
        stream = CameraStream(profile)
        stream.start()
        try:
            frame, error = grab_frame(stream, args.timeout)
            status = stream.status
        finally:
            stream.stop()
        if frame is None:
            print(f"error: camera {profile.id}: no frame within {args.timeout:.0f} s: "
                  f"{error or status.get('error') or 'nothing received'}", file=sys.stderr)
            return 1
        image, origin = frame.image, f"the stream, frame {frame.index}"
    image = apply_privacy_masks(image, profile.privacy_masks)
    if args.grid:
        image = draw_grid(image)
    out = Path(args.out or f"{profile.id}.jpg")
    if not cv2.imwrite(str(out), image, [cv2.IMWRITE_JPEG_QUALITY, 90]):
        print(f"error: cannot write {out} (unknown extension or unwritable folder)", file=sys.stderr)
        return 1
    h, w = image.shape[:2]
    masks = len(profile.privacy_masks)
    print(f"saved {out}: camera {profile.id}, {w}x{h}, from {origin}, {masks} privacy mask(s) applied")
    return 0
