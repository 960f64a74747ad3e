"""Grids: the example GeoJSON, validation messages, hierarchy lookups, and STRtree routing
checked against brute force on thousands of generated cells."""
import copy
import json
import random
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, box, mapping

from gateway.engine.grids import GridImportError, GridSet

pytestmark = pytest.mark.quick  # no service: `make test-quick`

EXAMPLE = Path(__file__).resolve().parents[1] / "gateway" / "examples" / "grids.geojson"


@pytest.fixture(scope="module")
def data():
    return json.loads(EXAMPLE.read_text())


@pytest.fixture(scope="module")
def grids(data):
    return GridSet.from_geojson(data)


def feature(gid, level, parent, geom, kind="admin", people=(), categories=None):
    props = {"id": gid, "name": gid, "level": level, "parent": parent, "kind": kind, "people": list(people)}
    if categories:
        props["categories"] = categories
    return {"type": "Feature", "properties": props, "geometry": mapping(geom)}


def collection(*features):
    return {"type": "FeatureCollection", "features": list(features)}


def problems_of(data):
    with pytest.raises(GridImportError) as e:
        GridSet.from_geojson(data)
    return e.value.problems


def test_example_locates_the_lawn_camera_and_the_water_sensor(grids):
    assert grids.warnings == []
    assert grids.locate(36.7260, 104.8411).id == "G-03-07"
    other = grids.locate(36.7221, 104.8302)
    assert other is not None and other.id not in ("G-03-07",) and other.level == "grid"
    assert grids.locate(10.0, 10.0) is None


def test_hierarchy_people_and_professional_grid(grids):
    assert [g.id for g in grids.ancestors("G-03-07")] == ["C-03", "S-01"]
    assert grids.subtree("C-03") == {"C-03", "G-03-06", "G-03-07"}
    assert grids.responsible("G-03-07", "grid").user == "worker.g0307"
    assert grids.responsible("G-03-07", "community").role == "community"
    assert grids.responsible("G-03-07", "street").role == "street"
    assert grids.at_level("G-03-07", "community").id == "C-03"
    fire = grids.professional_for(36.7260, 104.8411, "fire")
    assert fire is not None and fire.kind == "professional"
    assert grids.professional_for(36.7260, 104.8411, "police") is None
    assert grids.get("G-03-07").person("grid_leader") is not None


def test_camera_grid_comes_from_its_profile_else_its_location(grids):
    assert grids.resolve_camera("G-03-06", 36.7260, 104.8411).id == "G-03-06"
    assert grids.resolve_camera("G-99-99", 36.7260, 104.8411).id == "G-03-07"
    assert grids.resolve_camera(None, None, None) is None


def test_geojson_round_trip(grids):
    again = GridSet.from_geojson(json.loads(json.dumps(grids.to_geojson())))
    assert {g.id: (g.level, g.parent, g.people, g.categories) for g in again} == \
           {g.id: (g.level, g.parent, g.people, g.categories) for g in grids}
    assert all(again.get(g.id).geometry.equals(g.geometry) for g in grids)


def test_each_problem_names_its_feature_and_reason():
    s = feature("S", "street", None, box(0, 0, 10, 10))
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    bad = [
        s,
        feature("C", "community", "S", box(0, 0, 10, 10)),
        {"type": "Feature", "properties": {"id": "G-bow", "level": "grid", "parent": "C"}, "geometry": bowtie},
        feature("G-orphan", "grid", None, box(0, 0, 1, 1)),
        feature("G-lost", "grid", "C-nowhere", box(0, 0, 1, 1)),
        feature("G-skip", "grid", "S", box(0, 0, 1, 1)),
        feature("C", "community", "S", box(0, 0, 1, 1)),
        feature("G-lvl", "block", "C", box(0, 0, 1, 1)),
        feature("P", "street", "S", box(0, 0, 10, 10), kind="professional"),
    ]
    problems = problems_of(collection(*bad))
    text = "\n".join(problems)
    assert "G-bow: invalid polygon (Self-intersection" in text
    assert "G-orphan: orphan grid without a parent" in text
    assert "G-lost: unknown parent 'C-nowhere'" in text
    assert "G-skip: a grid cannot sit under the street S" in text
    assert "C: duplicate id" in text
    assert "G-lvl: level 'block'" in text
    assert "P: a professional grid needs 'categories'" in text


def test_cycle_is_reported():
    a = feature("A", "community", "B", box(0, 0, 1, 1))
    b = feature("B", "community", "A", box(0, 0, 1, 1))
    assert any("cycle" in p for p in problems_of(collection(a, b)))


def test_sibling_overlap_is_an_error_but_a_sliver_is_tolerated():
    s = feature("S", "street", None, box(0, 0, 10, 10))
    c = feature("C", "community", "S", box(0, 0, 10, 10))
    g1 = feature("G1", "grid", "C", box(0, 0, 5, 10))
    g2 = feature("G2", "grid", "C", box(4, 0, 10, 10))  # 1 x 10 shared: 20% of G1
    assert problems_of(collection(s, c, g1, g2)) == ["G1: overlaps its sibling G2 by 20.0% of the smaller one"]
    g2_sliver = feature("G2", "grid", "C", box(4.99, 0, 10, 10))
    assert GridSet.from_geojson(collection(s, c, g1, g2_sliver)).warnings == []


def test_gaps_and_spill_over_are_warnings():
    s = feature("S", "street", None, box(0, 0, 10, 10))
    c = feature("C", "community", "S", box(0, 0, 10, 10))
    g1 = feature("G1", "grid", "C", box(0, 0, 5, 10))
    g2 = feature("G2", "grid", "C", box(6, 0, 12, 10))  # a gap 5..6 and a spill 10..12
    grids = GridSet.from_geojson(collection(s, c, g1, g2))
    assert any(w.startswith("C: ") and "gap" in w for w in grids.warnings)
    assert any(w.startswith("G2: ") and "outside its parent C" in w for w in grids.warnings)


def test_not_a_feature_collection():
    assert problems_of({"type": "Feature"}) == ["not a GeoJSON FeatureCollection"]
    assert "unreadable geometry" in problems_of(collection(
        {"type": "Feature", "properties": {"id": "X", "level": "street"}, "geometry": {"type": "Polygon"}}))[0]


def test_strtree_locate_matches_brute_force_on_thousands_of_cells():
    n = 60  # 60 x 60 = 3600 cells, 6 communities of 10 rows
    feats = [feature("S", "street", None, box(0, 0, n, n))]
    for c in range(6):
        feats.append(feature(f"C{c}", "community", "S", box(0, c * 10, n, c * 10 + 10)))
    cells = {}
    for i in range(n):
        for j in range(n):
            gid = f"G{i}-{j}"
            cells[gid] = box(i, j, i + 1, j + 1)
            feats.append(feature(gid, "grid", f"C{j // 10}", cells[gid]))
    grids = GridSet.from_geojson(collection(*feats))
    assert grids.warnings == []
    ids, geoms = list(cells), np.array(list(cells.values()))
    rnd = random.Random(7)
    for _ in range(500):
        x, y = rnd.uniform(0, n), rnd.uniform(0, n)
        brute = {ids[k] for k in np.flatnonzero(shapely.covers(geoms, Point(x, y)))}
        got = grids.locate(y, x)
        assert got.id in brute  # a point on a shared edge may belong to either cell


def test_input_is_not_mutated(data):
    before = copy.deepcopy(data)
    GridSet.from_geojson(data)
    assert data == before


@pytest.mark.parametrize("bad", [
    None, [], {"type": "FeatureCollection", "features": {}},
    collection(None, 3, "x"),
    collection({"type": "Feature", "properties": "x", "geometry": None}),
    collection({"type": "Feature", "properties": {"id": 5, "level": "street"}, "geometry": None}),
    collection({"type": "Feature", "properties": {"id": "S", "level": "street", "people": "bob"},
                "geometry": mapping(box(0, 0, 1, 1))}),
    collection({"type": "Feature", "properties": {"id": "S", "level": "street", "people": [{"user": "a"}]},
                "geometry": mapping(box(0, 0, 1, 1))}),
    collection({"type": "Feature", "properties": {"id": "S", "level": "street"},
                "geometry": {"type": "Polygon", "coordinates": [[["a", "b"], [1, 0], [1, 1], ["a", "b"]]]}}),
    collection({"type": "Feature", "properties": {"id": "S", "level": "street"},
                "geometry": {"type": "Point", "coordinates": [1, 1]}}),
])
def test_garbage_is_a_clear_import_error_not_a_crash(bad):
    problems = problems_of(bad)
    assert problems and all(isinstance(p, str) and p for p in problems)


def test_unknown_properties_and_person_fields_are_warned_and_unstaffed_grids_named():
    data = json.loads(EXAMPLE.read_text())
    community = next(f["properties"] for f in data["features"] if f["id"] == "C-03")
    community["people"] = []
    community["colour"] = "red"
    worker = next(f["properties"] for f in data["features"] if f["id"] == "G-03-06")
    worker["people"][0]["mobile"] = "+86 1"
    gridset = GridSet.from_geojson(data)
    assert "C-03: unknown property 'colour', not used (known: id, name, level, kind, parent, people, categories, notify_chain)" \
        in gridset.warnings
    assert any(w.startswith("G-03-06: person ") and "unknown field 'mobile'" in w for w in gridset.warnings)
    assert gridset.unstaffed() == ["C-03: nobody responsible at community level (no person with role community in"
                                   " 'people'); incidents of G-03-06, G-03-07 escalate to nobody here"]
    assert GridSet.from_geojson(json.loads(EXAMPLE.read_text())).unstaffed() == []


def test_a_notify_chain_is_checked_at_import_and_inherited_down_the_tree():
    area = box(0, 0, 10, 10)
    chain = [{"role": "grid_leader", "after_min": 10}, {"role": "grid_worker"}]
    data = collection(feature("S", "street", None, area, people=[{"user": "s", "role": "street"}]),
                      feature("C", "community", "S", area, people=[{"user": "c", "role": "community"}]),
                      feature("G", "grid", "C", area, people=[{"user": "w", "role": "grid_worker"}]))
    assert GridSet.from_geojson(data).chain_for("G") == ()
    data["features"][1]["properties"]["notify_chain"] = chain
    g = GridSet.from_geojson(data)
    steps = g.chain_for("G")  # from the community, soonest first
    assert [(s.role, s.after.total_seconds()) for s in steps] == [("grid_worker", 0), ("grid_leader", 600)]
    assert g.nearest_person("G", "community").user == "c" and g.nearest_person("G", "grid_leader") is None
    assert g.get("C").to_feature()["properties"]["notify_chain"] == chain
    data["features"][1]["properties"]["notify_chain"] = [{"role": "mayor", "after_min": 5}]
    with pytest.raises(GridImportError, match="C: notify_chain step 1: needs a 'role'"):
        GridSet.from_geojson(data)
    data["features"][1]["properties"]["notify_chain"] = [{"role": "community", "after_min": -1}]
    with pytest.raises(GridImportError, match="'after_min' must be minutes"):
        GridSet.from_geojson(data)
