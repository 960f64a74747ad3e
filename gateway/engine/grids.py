"""Grids: the street -> community -> grid hierarchy plus professional grids, loaded from
GeoJSON (docs/design.md, "Grids"), validated, and indexed with shapely's STRtree so that
locating a point stays fast for thousands of cells. Pure: no I/O."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry import Point, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree
from shapely.validation import explain_validity

from gateway.engine.chain import Step, parse_chain

LEVELS = ("street", "community", "grid")  # top first: escalation walks this backwards
KINDS = ("admin", "professional")
ROLES = ("grid_worker", "grid_leader", "community", "street", "professional")
# who answers for an incident at each level, in order of preference
# what a grid feature's properties and people may hold; anything else is likely a typo ("responsible")
PROPERTIES = ("id", "name", "level", "kind", "parent", "people", "categories", "notify_chain")
PERSON_FIELDS = ("user", "name", "role", "phone")
ROLES_FOR_LEVEL = {
    "grid": ("grid_worker", "grid_leader"),
    "community": ("community",),
    "street": ("street",),
}


def level_above(level: str) -> str | None:
    """The next level up ('grid' -> 'community' -> 'street' -> None)."""
    i = LEVELS.index(level)
    return LEVELS[i - 1] if i > 0 else None


@dataclass(frozen=True)
class Person:
    user: str
    name: str
    role: str
    phone: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"user": self.user, "name": self.name, "role": self.role}
        if self.phone:
            d["phone"] = self.phone
        return d


@dataclass(frozen=True)
class Grid:
    id: str
    name: str
    level: str  # 'street' | 'community' | 'grid'
    kind: str  # 'admin' | 'professional'
    parent: str | None
    geometry: BaseGeometry = field(compare=False, repr=False)
    categories: frozenset[str] = frozenset()  # alert types/categories a professional grid takes
    people: tuple[Person, ...] = ()
    notify_chain: tuple[dict[str, Any], ...] = field(default=(), compare=False)  # as given (gateway.engine.chain)

    def person(self, *roles: str) -> Person | None:
        """The first person holding one of `roles`, in the order the roles are given."""
        for role in roles:
            for p in self.people:
                if p.role == role:
                    return p
        return None

    def takes(self, category: str) -> bool:
        """A professional grid takes a category, or the whole family ('sensor' takes 'sensor.alarm')."""
        return category in self.categories or category.split(".")[0] in self.categories

    def to_feature(self) -> dict[str, Any]:
        props: dict[str, Any] = {
            "id": self.id, "name": self.name, "level": self.level, "kind": self.kind,
            "parent": self.parent, "people": [p.to_dict() for p in self.people],
        }
        if self.categories:
            props["categories"] = sorted(self.categories)
        if self.notify_chain:
            props["notify_chain"] = list(self.notify_chain)
        return {"type": "Feature", "id": self.id, "properties": props, "geometry": mapping(self.geometry)}


class GridImportError(ValueError):
    """The GeoJSON cannot be imported; `problems` lists every reason, each naming its feature."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the grids:\n" + "\n".join(f"- {p}" for p in problems))


class GridSet:
    """An immutable, validated set of grids with spatial indexes. Build it with `from_geojson`."""

    def __init__(self, grids: Iterable[Grid], warnings: list[str] | None = None):
        self._grids: dict[str, Grid] = {g.id: g for g in grids}
        self.warnings: list[str] = list(warnings or [])
        self._children: dict[str, list[str]] = {}
        for g in self._grids.values():
            if g.parent:
                self._children.setdefault(g.parent, []).append(g.id)
        self._admin = [g for g in self._grids.values() if g.kind == "admin"]
        self._prof = [g for g in self._grids.values() if g.kind == "professional"]
        self._admin_tree = STRtree([g.geometry for g in self._admin])
        self._prof_tree = STRtree([g.geometry for g in self._prof])
        self._responsible: dict[tuple[str | None, str], Person | None] = {}  # the set never changes

    # -- import / export ------------------------------------------------------------
    @classmethod
    def from_geojson(cls, data: dict[str, Any], *, overlap_tolerance: float = 0.01,
                     gap_tolerance: float = 0.01) -> "GridSet":
        """Validate and load a FeatureCollection. Overlaps between sibling grids larger than
        `overlap_tolerance` (a fraction of the smaller one's area) are errors; parts of a
        parent not covered by its children beyond `gap_tolerance` are warnings."""
        if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
            raise GridImportError(["not a GeoJSON FeatureCollection"])
        features = data.get("features")
        if not isinstance(features, list):
            raise GridImportError(["'features' must be a list"])
        problems: list[str] = []
        warnings: list[str] = []
        grids: dict[str, Grid] = {}
        for n, feat in enumerate(features):
            grid = _parse_feature(feat, n, problems, warnings)
            if grid is None:
                continue
            if grid.id in grids:
                problems.append(f"{grid.id}: duplicate id (feature #{n})")
                continue
            grids[grid.id] = grid
        problems += _check_hierarchy(grids)
        if not problems:  # spatial checks only make sense on a sound hierarchy
            problems += _check_overlaps(grids, overlap_tolerance)
        if problems:
            raise GridImportError(problems)
        return cls(grids.values(), warnings + _find_gaps(grids, gap_tolerance))

    def unstaffed(self) -> list[str]:
        """Grids with nobody to answer for their own level: their incidents (and those escalated to
        them from below) would have no assignee."""
        out = []
        for g in self:
            roles = ("professional", "grid_worker", "grid_leader") if g.kind == "professional" else ROLES_FOR_LEVEL[g.level]
            if g.person(*roles) is None:
                below = sorted(self.subtree(g.id) - {g.id})
                reach = f"; incidents of {', '.join(below)} escalate to nobody here" if below else ""
                out.append(f"{g.id}: nobody responsible at {g.level} level (no person with role "
                           f"{' or '.join(roles)} in 'people'){reach}")
        return out

    def to_geojson(self) -> dict[str, Any]:
        return {"type": "FeatureCollection", "features": [g.to_feature() for g in self._grids.values()]}

    # -- lookups --------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._grids)

    def __iter__(self) -> Iterator[Grid]:
        return iter(self._grids.values())

    def __contains__(self, grid_id: object) -> bool:
        return grid_id in self._grids

    def get(self, grid_id: str | None) -> Grid | None:
        return self._grids.get(grid_id) if grid_id else None

    def ancestors(self, grid_id: str) -> list[Grid]:
        """Parent first, up to the root."""
        out: list[Grid] = []
        g = self._grids.get(grid_id)
        while g is not None and g.parent:
            g = self._grids.get(g.parent)
            if g is None:
                break
            out.append(g)
        return out

    def subtree(self, grid_id: str) -> set[str]:
        """The grid and all grids below it."""
        out, todo = set(), [grid_id]
        while todo:
            gid = todo.pop()
            if gid in out or gid not in self._grids:
                continue
            out.add(gid)
            todo += self._children.get(gid, [])
        return out

    def at_level(self, grid_id: str | None, level: str) -> Grid | None:
        """The grid itself or its ancestor at `level`."""
        g = self.get(grid_id)
        if g is None:
            return None
        for cand in [g, *self.ancestors(g.id)]:
            if cand.level == level:
                return cand
        return None

    def responsible(self, grid_id: str | None, level: str) -> Person | None:
        """Who answers at `level` for an incident in `grid_id`: the grid worker (or leader) of
        the cell, the community person of its community, the street person of its street.
        For a professional grid, its own people."""
        key = (grid_id, level)
        if key not in self._responsible:
            self._responsible[key] = self._find_responsible(grid_id, level)
        return self._responsible[key]

    def _find_responsible(self, grid_id: str | None, level: str) -> Person | None:
        g = self.get(grid_id)
        if g is not None and g.kind == "professional":
            return g.person("professional", "grid_worker", "grid_leader", *ROLES_FOR_LEVEL.get(level, ()))
        owner = self.at_level(grid_id, level)
        return owner.person(*ROLES_FOR_LEVEL[level]) if owner else None

    def chain_for(self, grid_id: str | None) -> tuple[Step, ...]:
        """The notification chain of the grid or of its nearest ancestor that has one."""
        g = self.get(grid_id)
        for cand in [g, *self.ancestors(g.id)] if g else []:
            if cand.notify_chain:
                return parse_chain(cand.notify_chain, ROLES)
        return ()

    def nearest_person(self, grid_id: str | None, role: str) -> Person | None:
        """The person with `role` in the grid, else in its nearest ancestor that has one."""
        g = self.get(grid_id)
        for cand in [g, *self.ancestors(g.id)] if g else []:
            person = cand.person(role)
            if person is not None:
                return person
        return None

    def locate(self, lat: float, lon: float) -> Grid | None:
        """The deepest admin grid containing the point (boundaries included), or None."""
        hits = [self._admin[i] for i in self._admin_tree.query(Point(lon, lat), predicate="covered_by")]
        if not hits:
            return None
        best: Grid = max(hits, key=lambda g: (LEVELS.index(g.level), _neg_id(g.id)))
        return best

    def professional_for(self, lat: float, lon: float, category: str) -> Grid | None:
        """The professional grid covering the point that takes `category`, or None."""
        hits = [self._prof[i] for i in self._prof_tree.query(Point(lon, lat), predicate="covered_by")]
        hits = [g for g in hits if g.takes(category)]
        return min(hits, key=lambda g: (g.geometry.area, g.id)) if hits else None

    def resolve_camera(self, grid_hint: str | None, lat: float | None, lon: float | None) -> Grid | None:
        """A camera's grid: the one named in its profile if it exists, else by location."""
        if grid_hint and grid_hint in self._grids:
            return self._grids[grid_hint]
        if lat is not None and lon is not None:
            return self.locate(lat, lon)
        return None


def _neg_id(grid_id: str) -> tuple[int, ...]:
    # deterministic tie-break on a shared boundary: the smallest id wins under max()
    return tuple(-ord(c) for c in grid_id)


def _parse_feature(feat: Any, n: int, problems: list[str], warnings: list[str]) -> Grid | None:
    if not isinstance(feat, dict) or feat.get("type") != "Feature":
        problems.append(f"feature #{n}: not a GeoJSON Feature")
        return None
    props = feat.get("properties") or {}
    if not isinstance(props, dict):
        problems.append(f"feature #{n}: 'properties' must be an object")
        return None
    gid = props.get("id") or feat.get("id")
    if not gid or not isinstance(gid, str):
        problems.append(f"feature #{n}: missing 'id'")
        return None
    warnings += [f"{gid}: unknown property {k!r}, not used (known: {', '.join(PROPERTIES)})"
                 for k in props if k not in PROPERTIES]
    ok = True
    level = props.get("level")
    if level not in LEVELS:
        problems.append(f"{gid}: level {level!r} is not one of {', '.join(LEVELS)}")
        ok = False
    kind = props.get("kind", "admin")
    if kind not in KINDS:
        problems.append(f"{gid}: kind {kind!r} is not one of {', '.join(KINDS)}")
        ok = False
    try:
        geom = shape(feat.get("geometry") or {})
        if geom.geom_type in ("Polygon", "MultiPolygon") and not geom.is_empty:
            geom.area  # noqa: B018 -- non-numeric coordinates only fail here
    except Exception as e:  # shapely raises several types for malformed geometry
        problems.append(f"{gid}: unreadable geometry ({e})")
        return None
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        problems.append(f"{gid}: geometry must be a Polygon or MultiPolygon, not {geom.geom_type}")
        return None
    if geom.is_empty or not geom.is_valid:
        problems.append(f"{gid}: invalid polygon ({'empty' if geom.is_empty else explain_validity(geom)})")
        return None
    people = []
    raw_people, categories = props.get("people") or [], props.get("categories") or []
    if not isinstance(raw_people, list) or not isinstance(categories, list):
        problems.append(f"{gid}: 'people' and 'categories' must be lists")
        return None
    for p in raw_people:
        if not isinstance(p, dict) or not p.get("user") or p.get("role") not in ROLES:
            problems.append(f"{gid}: person {p!r} needs 'user' and a 'role' among {', '.join(ROLES)}")
            ok = False
            continue
        warnings += [f"{gid}: person {p['user']!r}: unknown field {k!r}, not used (known: {', '.join(PERSON_FIELDS)})"
                     for k in p if k not in PERSON_FIELDS]
        people.append(Person(str(p["user"]), str(p.get("name") or p["user"]), p["role"], p.get("phone")))
    if kind == "professional" and not categories:
        problems.append(f"{gid}: a professional grid needs 'categories' (the alert types it takes)")
        ok = False
    chain = props.get("notify_chain")
    if chain is not None:
        try:
            parse_chain(chain, ROLES)
        except ValueError as e:
            problems.append(f"{gid}: {e}")
            ok = False
    if not ok:
        return None
    shapely.prepare(geom)
    return Grid(id=gid, name=str(props.get("name") or gid), level=str(level), kind=kind,
                parent=props.get("parent") or None, geometry=geom,
                categories=frozenset(map(str, categories)), people=tuple(people),
                notify_chain=tuple(chain or ()))


def _check_hierarchy(grids: dict[str, Grid]) -> list[str]:
    problems = []
    for g in grids.values():
        if g.parent is None:
            if g.kind == "admin" and g.level != "street":
                problems.append(f"{g.id}: orphan {g.level} without a parent")
            continue
        parent = grids.get(g.parent)
        if parent is None:
            problems.append(f"{g.id}: unknown parent {g.parent!r}")
            continue
        if g.kind == "admin":
            if parent.kind != "admin":
                problems.append(f"{g.id}: parent {parent.id} is a professional grid")
            elif LEVELS.index(g.level) != LEVELS.index(parent.level) + 1:
                problems.append(f"{g.id}: a {g.level} cannot sit under the {parent.level} {parent.id}"
                                f" (order is {' -> '.join(LEVELS)})")
    for g in grids.values():  # cycles (only reachable when levels are inconsistent too)
        seen, cur = {g.id}, g
        while cur.parent and cur.parent in grids:
            if cur.parent in seen:
                problems.append(f"{g.id}: parent cycle through {cur.parent}")
                break
            seen.add(cur.parent)
            cur = grids[cur.parent]
    return problems


def _check_overlaps(grids: dict[str, Grid], tolerance: float) -> list[str]:
    admin = [g for g in grids.values() if g.kind == "admin"]
    tree = STRtree([g.geometry for g in admin])
    problems = []
    left, right = tree.query([g.geometry for g in admin], predicate="intersects")
    for i, j in zip(left, right):
        a, b = admin[i], admin[j]
        if i >= j or a.parent != b.parent or a.level != b.level:
            continue
        shared = a.geometry.intersection(b.geometry).area
        if shared > tolerance * min(a.geometry.area, b.geometry.area):
            pct = 100 * shared / min(a.geometry.area, b.geometry.area)
            problems.append(f"{a.id}: overlaps its sibling {b.id} by {pct:.1f}% of the smaller one")
    return problems


def _find_gaps(grids: dict[str, Grid], tolerance: float) -> list[str]:
    warnings = []
    children: dict[str, list[Grid]] = {}
    for g in grids.values():
        if g.kind == "admin" and g.parent:
            children.setdefault(g.parent, []).append(g)
    for pid, kids in sorted(children.items()):
        parent = grids[pid]
        union = shapely.union_all([k.geometry for k in kids])
        gap = parent.geometry.difference(union).area / parent.geometry.area
        if gap > tolerance:
            warnings.append(f"{pid}: {100 * gap:.1f}% of its area is in none of its children (gap)")
        for k in kids:
            outside = k.geometry.difference(parent.geometry).area / k.geometry.area
            if outside > tolerance:
                warnings.append(f"{k.id}: {100 * outside:.1f}% of it lies outside its parent {pid}")
    return warnings
