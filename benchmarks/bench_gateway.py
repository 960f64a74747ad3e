"""Gateway ingest cost per alert, as ratios against a plain insert measured in the same run.

Baseline: one committed INSERT of the alert row (what storing an alert costs at the least).
- parse: `parse_alert` (JSON + pydantic validation);
- open: the full ingest of an alert that opens an incident (dedupe insert, grid lookup with the
  engine's STRtree, routing, lifecycle, timeline, timers, outbox, audit: one transaction);
- attach: a repeated alert of the same source and type (atomic update of the open incident);
- duplicate: the same alert id again (the unique key refuses it);
- API list: `GET /api/incidents` (50 items) through the ASGI app.
SQLite on a temporary file (the default deployment); PostgreSQL behaves alike per row.
"""
from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from alerts import new_alert_id, parse_alert

N = 300
GRIDS = Path(__file__).resolve().parents[1] / "gateway" / "examples" / "grids.geojson"


def _alert(source: str) -> str:
    return json.dumps({"schema": "gridwatch.alert/1", "id": new_alert_id(), "edge_id": "edge-bench",
                       "source": {"kind": "camera", "id": source}, "camera_id": source, "type": "intrusion",
                       "severity": "major", "ts": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                       "location": {"lat": 36.7260, "lon": 104.8411}})


def _per_item(fn, items) -> float:
    t0 = time.perf_counter()
    for it in items:
        fn(it)
    return (time.perf_counter() - t0) / len(items)


def run(console: Console) -> None:
    from fastapi.testclient import TestClient
    from sqlalchemy import insert

    from gateway.app import create_app
    from gateway.commands.import_grids import import_grids
    from gateway.config import Settings
    from gateway.db import Database
    from gateway.db.models import AlertRow
    from gateway.incidents.service import IncidentService

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        db = Database(url)
        db.upgrade()
        with db.session() as s:
            import_grids(s, json.loads(GRIDS.read_text()), datetime.now(UTC))
        svc = IncidentService(db, media_dir=Path(tmp) / "media")
        now = datetime.now(UTC)

        def plain_insert(raw: str) -> None:
            d = json.loads(raw)
            with db.session() as s:
                s.execute(insert(AlertRow).values(id=d["id"], edge_id=d["edge_id"], source_kind="camera",
                                                  source_id=d["source"]["id"], camera_id=d["camera_id"], type=d["type"],
                                                  severity=d["severity"], ts=now, received_at=now,
                                                  disposition="baseline", payload=d))

        base = _per_item(plain_insert, [_alert(f"base-{i}") for i in range(N)])
        parse = _per_item(parse_alert, [_alert("p") for _ in range(N)])
        opened = [parse_alert(_alert(f"cam-{i}")) for i in range(N)]
        t_open = _per_item(svc.ingest, opened)
        t_attach = _per_item(svc.ingest, [parse_alert(_alert(f"cam-{i % 10}")) for i in range(N)])
        t_dup = _per_item(svc.ingest, opened)
        app = create_app(Settings(db_url=url, admin_token="bench", media_dir=Path(tmp) / "media"), db, service=svc)
        client = TestClient(app)
        t_list = _per_item(lambda _: client.get("/api/incidents", headers={"Authorization": "Bearer bench"}),
                           range(30))
        db.dispose()

    table = Table(title=f"gateway ingest per alert (SQLite, {N} alerts each)")
    table.add_column("step")
    table.add_column("ms", justify="right")
    table.add_column("x plain insert", justify="right")
    table.add_column("alerts/s", justify="right")
    for name, t in (("plain INSERT (baseline)", base), ("parse + validate", parse), ("ingest: opens an incident", t_open),
                    ("ingest: attaches", t_attach), ("ingest: duplicate id", t_dup), ("GET /api/incidents (50)", t_list)):
        table.add_row(name, f"{t * 1000:.2f}", f"{t / base:.2f}", f"{1 / t:,.0f}")
    console.print(table)


if __name__ == "__main__":
    run(Console())
