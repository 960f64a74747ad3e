"""The grids and routing rules the intake routes on: the engine's GridSet built from the grids
table (rebuilt only when the table changed) and the routing rules YAML."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.db import Database
from gateway.db.grids import grids_geojson
from gateway.db.models import Grid
from gateway.engine import routing as routing_mod
from gateway.engine.grids import GridSet


class GridCache:
    """The engine's GridSet built from the grids table, rebuilt only when the table changes
    (another process may import grids while this one runs)."""

    def __init__(self, db: Database | None = None):
        self.db = db
        self._key: tuple | None = None
        self._grids: GridSet = GridSet([])

    def get(self, session: Session | None = None) -> GridSet:
        if session is None:
            assert self.db is not None, "a GridCache without a database reads with the caller's session"
            with self.db.session() as s:
                return self.get(s)
        key = tuple(session.execute(select(func.count(Grid.id), func.max(Grid.updated_at))).one())
        if key != self._key:
            rows = session.scalars(select(Grid)).all()
            self._grids = GridSet.from_geojson(grids_geojson(rows), overlap_tolerance=1.0) if rows else GridSet([])
            self._key = key
        return self._grids


def load_routing(path: str | Path | None) -> routing_mod.RoutingRules:
    if path is None:
        return routing_mod.RoutingRules()
    return routing_mod.RoutingRules.from_yaml(Path(path).read_text())
