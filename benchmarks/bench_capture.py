"""CPU per camera for capture, while streaming and while the camera is down.

Baseline (same run): the naive capture loop, `cv2.VideoCapture.read()` of every frame of
the same RTSP stream (the real test camera: vtest.avi, 768x576, 10 fps, H.264 over RTSP/TCP
from Debian's GStreamer RTSP server). CameraStream grabs every frame but decodes to BGR only
the detect.fps (5) it hands over. For a dead camera the baseline is a retry loop without
backoff, the classic NVR bug that burns a core; CameraStream backs off (0.5 s .. 30 s).
CPU is this process's (all threads); the RTSP server runs in its own process.
"""
from __future__ import annotations

import time
from pathlib import Path

import cv2
from rich.console import Console
from rich.table import Table

from camera_profiles.loader import profile_from_dict
from edge.camera.capture import CameraStream

ROOT = Path(__file__).resolve().parents[1]
VTEST = ROOT.parent / "shared" / "data" / "vtest.avi"
SECONDS = 10.0


def _cpu_per_s(start, step, stop, seconds: float = SECONDS) -> float:
    """CPU seconds per wall second while `step()` runs in a loop, after `start()` (connecting,
    not measured) and until `stop()`."""
    state = start()
    c0, t0 = time.process_time(), time.monotonic()
    while time.monotonic() - t0 < seconds:
        step(state)
    cpu = (time.process_time() - c0) / (time.monotonic() - t0)
    stop(state)
    return cpu


def _opencv(url: str, *, dead: bool = False):
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000]
    if dead:  # the naive retry loop: reopen at once, forever
        return (lambda: None, lambda _: cv2.VideoCapture(url, cv2.CAP_FFMPEG, params).release(), lambda _: None)

    def start():
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
        cap.read()
        return cap
    return start, lambda cap: cap.read(), lambda cap: cap.release()


def _stream(source, counts: dict):
    def start():
        s = CameraStream(profile_from_dict({"id": "bench", "source": source, "detect": {"fps": 5}}))
        s.start()
        if isinstance(source, str) and "127.0.0.1" in source and counts.get("wait_first"):
            deadline = time.monotonic() + 15
            while s.get(timeout=0.5) is None and time.monotonic() < deadline:
                pass
        return s

    def step(s):
        if s.get(timeout=0.5) is not None:
            counts["frames"] = counts.get("frames", 0) + 1
    return start, step, lambda s: s.stop()


def run(console: Console) -> None:
    from tests.support.rtsp_server import RtspCamera
    from tests.support.services import free_port

    rows = []
    with RtspCamera(VTEST, width=768) as cam:
        base = _cpu_per_s(*_opencv(cam.url))
        counts = {"wait_first": True}
        ours = _cpu_per_s(*_stream(cam.url, counts))
    rows.append(("streaming (768x576, 10 fps)", "read() every frame", base, "CameraStream, 5 fps handed over",
                 ours, f"{counts.get('frames', 0) / SECONDS:.1f} frames/s handed over"))

    dead = f"rtsp://127.0.0.1:{free_port()}/cam"  # connection refused: fails at once, the worst case for a loop
    naive_dead = _cpu_per_s(*_opencv(dead, dead=True), seconds=5.0)
    ours_dead = _cpu_per_s(*_stream(dead, {}))
    rows.append(("camera down (refused)", "retry without backoff", naive_dead, "CameraStream with backoff",
                 ours_dead, ""))
    onvif = {"onvif": {"host": "127.0.0.1", "port": free_port(), "username": "a", "password": "b"}}
    ours_onvif_dead = _cpu_per_s(*_stream(onvif, {}))
    rows.append(("ONVIF camera down", "retry without backoff", naive_dead, "CameraStream with backoff",
                 ours_onvif_dead, "TCP probe before any WSDL"))

    onvif_rows = _onvif_resolve_cpu()

    table = Table(title="capture: CPU per camera (share of one core; lower is better)")
    for col in ("case", "baseline", "baseline CPU", "gridwatch", "gridwatch CPU", "ratio", "note"):
        table.add_column(col)
    for case, bname, b, oname, o, note in rows:
        table.add_row(case, bname, f"{b * 100:.1f}%", oname, f"{o * 100:.2f}%", f"{o / b:.3f}x" if b else "-", note)
    console.print(table)

    t2 = Table(title="ONVIF: CPU to resolve a camera's stream (device info, profiles, URIs) at each (re)connect")
    for col in ("baseline: WSDL parsed per client", "gridwatch: WSDL parsed once, shared", "ratio"):
        t2.add_column(col)
    base_ms, ours_ms = onvif_rows
    t2.add_row(f"{base_ms:.0f} ms", f"{ours_ms:.1f} ms", f"{ours_ms / base_ms:.3f}x")
    console.print(t2)


def _onvif_resolve_cpu(n: int = 10) -> tuple[float, float]:
    """CPU ms per resolve_media against the loopback ONVIF device, with and without the WSDL cache."""
    from camera_profiles.schema import OnvifSource
    from edge.onvif import client
    from tests.support.onvif_camera import OnvifCamera
    from tests.support.services import free_port

    with OnvifCamera(free_port(), username="admin", password="pw") as dev:
        src = OnvifSource(host="127.0.0.1", port=dev.port, username="admin", password="pw")
        client.resolve_media(src)  # imports, first parse

        def per_call(clear: bool) -> float:
            c0 = time.process_time()
            for _ in range(n):
                if clear:
                    client._wsdl_document.cache_clear()
                client.resolve_media(src)
            return (time.process_time() - c0) / n * 1000

        return per_call(True), per_call(False)


if __name__ == "__main__":
    run(Console())
