"""The deployment file is valid Compose and wires the parts the way the README says."""
import shutil
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def compose_config() -> dict:
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose is missing: run `make system-deps`"
    out = subprocess.run([exe, "-f", "docker-compose.yml", "config"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def test_compose_is_valid_and_complete():
    cfg = compose_config()
    services = cfg["services"]
    assert {"mosquitto", "postgres", "gateway", "edge", "sensors", "camera"} <= set(services)
    gw_env = services["gateway"]["environment"]
    assert gw_env["GRIDWATCH_DB_URL"].startswith("postgresql+psycopg://")
    assert gw_env["GRIDWATCH_MQTT_URL"] == "mqtt://mosquitto:1883"
    assert services["edge"]["command"][-1] == "/config/edge.yaml"
    assert "gateway users add admin --role admin" in services["gateway"]["command"][-1]  # someone can sign in
    assert "GRIDWATCH_USER_PASSWORD" in gw_env
    for f in ("deploy/edge.yaml", "deploy/cam-demo.yaml", "deploy/mosquitto.conf", "Dockerfile"):
        assert (REPO / f).exists(), f


def test_deploy_camera_profile_is_valid(monkeypatch):
    from camera_profiles import load_profile

    monkeypatch.setenv("CAM_DEMO_URL", "rtsp://camera:8554/lawn")
    assert load_profile(REPO / "deploy/cam-demo.yaml").source == "rtsp://camera:8554/lawn"


def test_the_package_metadata_builds_without_deprecation_warnings():
    """setuptools deprecated the `license` table: an SPDX string, which needs setuptools 77."""
    import tomllib

    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in meta["build-system"]["requires"]
