"""`python -m edge snapshot`: a privacy-masked frame from real footage and a real RTSP camera."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import yaml

from edge.masks import PRIVACY_FILL
from tests.support.rtsp_server import RtspCamera
from tests.support.services import free_port

REPO = Path(__file__).resolve().parents[1]
MASK = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]  # the top-left quarter


def snapshot(tmp_path, source, *extra):
    prof = tmp_path / "cam.yaml"
    prof.write_text(yaml.safe_dump({"id": "cam-snap", "source": source, "privacy_masks": [MASK],
                                    "detect": {"fps": 5, "warmup_s": 0.5}}))
    out = tmp_path / "snap.jpg"
    proc = subprocess.run([sys.executable, "-m", "edge", "snapshot", "--profile", str(prof), "--out", str(out), *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=90)
    return proc, out


def assert_masked(image):
    h, w = image.shape[:2]
    masked = image[: h // 2 - 4, : w // 2 - 4].astype(int)
    open_part = image[h // 2 + 4:, w // 2 + 4:].astype(int)
    assert abs(masked.mean() - PRIVACY_FILL) < 3 and masked.std() < 3, "masked pixels are flat grey"
    assert open_part.std() > 15, "the rest of the scene is there"


def test_snapshot_of_a_file_is_privacy_masked(tmp_path, vtest_path):
    proc, out = snapshot(tmp_path, str(vtest_path))
    assert proc.returncode == 0, proc.stderr
    assert "1 privacy mask(s) applied" in proc.stdout
    image = cv2.imread(str(out))
    assert image.shape == (576, 768, 3)
    assert_masked(image)
    raw = cv2.VideoCapture(str(vtest_path)).read()[1]
    assert raw[: 280, : 380].std() > 15, "the footage itself is not flat there: the mask did it"


def test_snapshot_of_an_rtsp_camera(tmp_path, vtest_path):
    with RtspCamera(vtest_path) as cam:
        proc, out = snapshot(tmp_path, cam.url)
    assert proc.returncode == 0, proc.stderr
    image = cv2.imread(str(out))
    assert image.shape == (288, 384, 3)
    assert_masked(image)


def test_snapshot_of_an_unreachable_camera_fails_clearly(tmp_path):
    proc, out = snapshot(tmp_path, f"rtsp://127.0.0.1:{free_port()}/cam", "--timeout", "3")
    assert proc.returncode == 1
    assert "no frame within 3 s" in proc.stderr and "cannot reach 127.0.0.1" in proc.stderr
    assert not out.exists()


def test_snapshot_with_a_broken_profile_names_the_field(tmp_path):
    prof = tmp_path / "bad.yaml"
    prof.write_text("id: cam-x\nsource: /x.mp4\ndetect: {fps: -1}\n")
    proc = subprocess.run([sys.executable, "-m", "edge", "snapshot", "--profile", str(prof)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "detect.fps" in proc.stderr


def test_snapshot_of_an_onvif_camera_uses_its_snapshot_uri(tmp_path, vtest_path):
    from tests.support.onvif_camera import OnvifCamera

    still = cv2.VideoCapture(str(vtest_path)).read()[1]
    with OnvifCamera(free_port(), username="admin", password="s3cret", snapshot=still) as dev:
        proc, out = snapshot(tmp_path, {"onvif": {"host": "127.0.0.1", "port": dev.port, "username": "admin",
                                                  "password": "s3cret", "profile": "main"}})
    assert proc.returncode == 0, proc.stderr
    assert "from the device's snapshot URI" in proc.stdout  # the RTSP side does not even exist here
    image = cv2.imread(str(out))
    assert image.shape == still.shape
    assert_masked(image)
