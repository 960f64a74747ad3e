"""The grids table: loaded from a GeoJSON FeatureCollection (validated by the engine's GridSet),
with its people, and written back as GeoJSON (`grids_geojson`). Cameras and sensors follow."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.db import audit
from gateway.db.models import Camera, Grid, Person, Sensor
from gateway.engine.grids import GridImportError, GridSet


def grids_geojson(rows: list[Grid]) -> dict[str, Any]:
    feats = []
    for g in rows:
        props = dict(g.properties or {})
        props.update(id=g.id, name=g.name, level=g.level, kind=g.kind or "admin", parent=g.parent)
        feats.append({"type": "Feature", "id": g.id, "properties": props, "geometry": g.geometry})
    return {"type": "FeatureCollection", "features": feats}


def import_grids(session: Session, data: dict[str, Any], now: datetime, actor: str = "import", *,
                 allow_unstaffed: bool = False) -> dict[str, Any]:
    """Upsert the grids of `data` (raises GridImportError, also for a grid with nobody responsible
    for its level unless `allow_unstaffed`); grids missing from it are removed.
    Returns a summary: added, updated (changed), removed, warnings, cameras_moved."""
    gridset = GridSet.from_geojson(data)
    unstaffed = gridset.unstaffed()
    if unstaffed and not allow_unstaffed:
        raise GridImportError([*unstaffed, "(import with --allow-unstaffed to load them anyway)"])
    existing = {g.id: g for g in session.scalars(select(Grid))}
    people_before = _people(session)
    added, updated = [], []
    for g in gridset:
        feature = g.to_feature()
        props = {k: v for k, v in feature["properties"].items() if k not in ("id", "name", "level", "kind", "parent")}
        row = existing.pop(g.id, None)
        # as the JSON columns give it back (shapely's mapping() has tuples where JSON has lists)
        new = (g.name, g.level, g.kind, g.parent, json.loads(json.dumps(feature["geometry"])), props)
        if row is None:
            row = Grid(id=g.id)
            session.add(row)
            added.append(g.id)
        elif (row.name, row.level, row.kind, row.parent, row.geometry, row.properties) == new:
            continue
        else:
            updated.append(g.id)
        row.name, row.level, row.kind, row.parent, row.geometry, row.properties = new
        row.updated_at = now
    session.flush()
    session.execute(delete(Person))
    for g in gridset:
        for n, p in enumerate(g.people):
            session.add(Person(grid_id=g.id, username=p.user, display_name=p.name, role=p.role, phone=p.phone,
                               position=n))
    updated += sorted({gid for gid, _ in people_before ^ _people(session)} - set(added) - set(updated) - set(existing))
    removed = sorted(existing)
    for row in existing.values():
        session.delete(row)
    moved = reresolve_sources(session, gridset)
    audit.record(session, at=now, actor=actor, action="grids.import", object_type="grids",
                 details={"added": added, "updated": len(updated), "removed": removed, "cameras_moved": moved})
    return {"added": added, "updated": updated, "removed": removed, "warnings": gridset.warnings + unstaffed,
            "cameras_moved": moved}


def _people(session: Session) -> set[tuple[str, tuple[Any, ...]]]:
    """(grid, person) pairs as stored, to tell which grids' people an import changed."""
    session.flush()
    return {(p.grid_id, (p.username, p.display_name, p.role, p.phone, p.position)) for p in session.scalars(select(Person))}


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
