"""The gateway as tests build it: a migrated database with the example grids, settings, alerts, an MQTT publisher."""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from alerts import new_alert_id
from gateway.commands.seed import seed_users
from gateway.config import Settings
from gateway.db import Database
from gateway.db.grids import import_grids

GRIDS = Path(__file__).resolve().parents[2] / "gateway" / "examples" / "grids.geojson"


LAWN = {"lat": 36.7260, "lon": 104.8411}  # inside G-03-07 (worker.g0307)


def make_db(url: str, seed_password: str | None = None) -> Database:
    """A migrated database with the example grids (and their people as users)."""
    db = Database(url)
    db.upgrade()
    with db.session() as s:
        now = datetime.now(UTC)
        import_grids(s, json.loads(GRIDS.read_text()), now)
        if seed_password:
            seed_users(s, seed_password, now)
    return db


PASSWORD = "correct horse"  # every seeded user's, in the API tests
ADMIN_TOKEN = "adm-token"


@contextmanager
def api_client(tmp_path: Path, **settings: Any) -> Iterator[Any]:
    """The gateway's app on a migrated SQLite database with the example grids and their users
    (password PASSWORD), admin token ADMIN_TOKEN; the client carries `.db` and `.svc`."""
    from fastapi.testclient import TestClient

    from gateway.app import create_app

    url = f"sqlite:///{tmp_path}/gw.db"
    db = make_db(url, seed_password=PASSWORD)
    app = create_app(Settings(db_url=url, admin_token=ADMIN_TOKEN, media_dir=tmp_path / "media", **settings), db)
    with TestClient(app) as client:
        client.db, client.svc = db, app.state.service
        yield client
    db.dispose()


def make_settings(tmp_path, broker_url: str, prefix: str, db_url: str, **kw) -> Settings:
    return Settings(db_url=db_url, mqtt_url=broker_url, mqtt_prefix=prefix, mqtt_client_id=f"gw-{prefix}",
                    media_dir=tmp_path / "media", admin_token="test-admin-token", **kw)


def alert(source: str = "cam-lawn-01", type_: str = "intrusion", **kw) -> dict:
    d = {"schema": "gridwatch.alert/1", "id": new_alert_id(), "edge_id": "edge-test",
         "source": {"kind": "camera", "id": source}, "camera_id": source, "type": type_, "severity": "major",
         "ts": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "location": LAWN}
    d.update(kw)
    return d


class Publisher:
    def __init__(self, broker_url: str):
        port = int(broker_url.rsplit(":", 1)[1])
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def send(self, topic: str, payload: bytes | str | dict, retain: bool = False) -> None:
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def count(db: Database, model, *where) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))
