"""`python -m gateway import-grids GRIDS.geojson`: load or update the grids (validated by the
engine), replace their people, and re-resolve every known camera's grid."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway import audit
from gateway.config import Settings, add_config_argument
from gateway.db import Database
from gateway.db.models import Camera, Grid, Person, Sensor
from gateway.engine.grids import GridImportError, GridSet


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("geojson", help="a GeoJSON FeatureCollection of grids (DESIGN.md, Grids)")
    add_config_argument(p)
    p.add_argument("--seed-users", action="store_true", help="create a user for every person without one")
    p.add_argument("--password", default=None, help="password of the seeded users")


def import_grids(session: Session, data: dict[str, Any], now: datetime, actor: str = "import") -> dict[str, Any]:
    """Upsert the grids of `data` (raises GridImportError); grids missing from it are removed.
    Returns a summary: added, updated, removed, warnings, cameras_moved."""
    gridset = GridSet.from_geojson(data)
    existing = {g.id: g for g in session.scalars(select(Grid))}
    added, updated = [], []
    for g in gridset:
        feature = g.to_feature()
        props = {k: v for k, v in feature["properties"].items() if k not in ("id", "name", "level", "kind", "parent")}
        row = existing.pop(g.id, None)
        if row is None:
            row = Grid(id=g.id)
            session.add(row)
            added.append(g.id)
        else:
            updated.append(g.id)
        row.name, row.level, row.kind, row.parent = g.name, g.level, g.kind, g.parent
        row.geometry, row.properties, row.updated_at = feature["geometry"], props, now
    session.flush()
    session.execute(delete(Person))
    for g in gridset:
        for n, p in enumerate(g.people):
            session.add(Person(grid_id=g.id, username=p.user, display_name=p.name, role=p.role, phone=p.phone,
                               position=n))
    removed = sorted(existing)
    for row in existing.values():
        session.delete(row)
    moved = reresolve_sources(session, gridset)
    audit.record(session, at=now, actor=actor, action="grids.import", object_type="grids",
                 details={"added": added, "updated": len(updated), "removed": removed, "cameras_moved": moved})
    return {"added": added, "updated": updated, "removed": removed, "warnings": gridset.warnings,
            "cameras_moved": moved}


def reresolve_sources(session: Session, gridset: GridSet) -> dict[str, str | None]:
    """Cameras and sensors follow the grids: profile grid (hint) first, else their location."""
    moved = {}
    for row in [*session.scalars(select(Camera)), *session.scalars(select(Sensor))]:
        hint = (getattr(row, "device", None) or {}).get("grid_hint")
        loc = row.location or {}
        g = gridset.resolve_camera(hint, loc.get("lat"), loc.get("lon"))
        new = g.id if g else (row.grid_id if row.grid_id in gridset else None)
        if new != row.grid_id:
            moved[row.id] = new
            row.grid_id = new
    return moved


def main(args: argparse.Namespace) -> int:
    settings = Settings.load(args.config)
    try:
        data = json.loads(Path(args.geojson).read_text())
    except (OSError, json.JSONDecodeError) as e:
        print(f"import-grids: cannot read {args.geojson}: {e}", file=sys.stderr)
        return 2
    db = Database(settings.db_url)
    db.upgrade()
    now = datetime.now(timezone.utc)
    try:
        with db.session() as s:
            summary = import_grids(s, data, now)
            seeded = []
            if args.seed_users:
                if not args.password:
                    print("import-grids: --seed-users needs --password", file=sys.stderr)
                    return 2
                from gateway.seed import seed_users

                seeded = seed_users(s, args.password, now)
    except GridImportError as e:
        print(f"import-grids: {args.geojson}: {e}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(f"grids: {len(summary['added'])} added, {len(summary['updated'])} updated, {len(summary['removed'])} removed;"
          f" {len(summary['cameras_moved'])} cameras/sensors re-resolved; {len(seeded)} users created")
    for w in summary["warnings"]:
        print(f"warning: {w}")
    return 0
