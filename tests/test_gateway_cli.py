"""The gateway's commands: migrate, import-grids (load, update, re-resolve cameras, refuse bad
files with the reasons), export-grids; and the migrations match the models."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import inspect, select, text

from gateway.db import Database
from gateway.db.models import Camera, Grid, User
from tests.support.gateway import GRIDS

REPO = GRIDS.parents[2]


def gateway(*args: str, db_url: str, cwd, **env_vars: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, GRIDWATCH_DB_URL=db_url, **env_vars)
    return subprocess.run([sys.executable, "-m", "gateway", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_migrations_match_the_models(tmp_path, pg_url):
    for url in (f"sqlite:///{tmp_path}/gw.db", pg_url):
        db = Database(url)
        db.upgrade()
        command.check(db.alembic_config())  # raises when the models need a migration
        command.downgrade(db.alembic_config(), "base")
        db.upgrade()
        db.dispose()


def test_media_path_index_upgrades_and_downgrades_with_data(tmp_path, pg_url):
    """0002 adds ix_media_path to a database already in use at 0001 (rows kept) and removes it again."""
    def media_indexes(db: Database) -> set[str]:
        return {i["name"] for i in inspect(db.engine).get_indexes("media")}

    for url in (f"sqlite:///{tmp_path}/gw.db", pg_url):
        db = Database(url)
        db.upgrade("0001")
        assert "ix_media_path" not in media_indexes(db)
        with db.engine.begin() as c:
            c.execute(text("INSERT INTO media (sha256, kind, path, size, created_at, complete) "
                           "VALUES (:sha, 'clip', '2026-11-21/01KAJ8Z0R0AAAAAAAAAAAAAAAA.mp4', 10, :at, :yes)"),
                      {"sha": "0" * 64, "at": datetime(2026, 11, 21, 8, 0), "yes": True})
        db.upgrade()
        assert "ix_media_path" in media_indexes(db)
        with db.engine.connect() as c:
            assert c.execute(text("SELECT path FROM media")).scalars().all() == [
                "2026-11-21/01KAJ8Z0R0AAAAAAAAAAAAAAAA.mp4"]
        command.downgrade(db.alembic_config(), "0001")
        assert "ix_media_path" not in media_indexes(db)
        with db.engine.connect() as c:
            assert c.execute(text("SELECT count(*) FROM media")).scalar() == 1
        db.upgrade()
        assert "ix_media_path" in media_indexes(db)
        db.dispose()


def test_import_update_reresolve_and_export(tmp_path):
    url = f"sqlite:///{tmp_path}/gw.db"
    r = gateway("migrate", db_url=url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = gateway("import-grids", str(GRIDS), "--seed-users", db_url=url, cwd=tmp_path,
                GRIDWATCH_USER_PASSWORD="pw-for-tests")
    assert r.returncode == 0, r.stderr
    assert "9 added" in r.stdout and "users created" in r.stdout

    db = Database(url)
    with db.session() as s:  # a camera the gateway has seen, located in G-03-07
        assert s.get(User, "worker.g0307").grid_id == "G-03-07"
        assert s.get(User, "leader.c03").grid_id == "C-03"  # leads two grids: bound to their community
        from datetime import datetime
        s.add(Camera(id="cam-lawn-01", state="streaming", last_seen=datetime.now(UTC), grid_id="G-03-07",
                     location={"lat": 36.7260, "lon": 104.8411}, device={}))
    # move the camera's grid boundary: G-03-07 is renamed G-03-09 in the new file
    data = json.loads(GRIDS.read_text())
    for f in data["features"]:
        if f["properties"]["id"] == "G-03-07":
            f["properties"]["id"] = f["id"] = "G-03-09"
    moved = tmp_path / "moved.geojson"
    moved.write_text(json.dumps(data))
    r = gateway("import-grids", str(moved), db_url=url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "1 added, 1 removed; 1 cameras/sensors re-resolved" in r.stdout  # the other 8 did not change
    r = gateway("import-grids", str(moved), db_url=url, cwd=tmp_path)
    assert "grids: no change;" in r.stdout, r.stdout
    with db.session() as s:
        assert s.get(Camera, "cam-lawn-01").grid_id == "G-03-09"
        assert s.get(Grid, "G-03-07") is None

    out = tmp_path / "out.geojson"
    assert gateway("export-grids", str(out), db_url=url, cwd=tmp_path).returncode == 0
    exported = json.loads(out.read_text())
    assert sorted(f["properties"]["id"] for f in exported["features"]) == sorted(
        f["properties"]["id"] for f in data["features"])
    db.dispose()


def test_people_under_an_unknown_property_are_a_warning_and_an_error(tmp_path):
    """`responsible` instead of `people`: a warning naming the feature and the property, and since
    the grid has nobody responsible for its level, the import is refused unless --allow-unstaffed."""
    url = f"sqlite:///{tmp_path}/gw.db"
    data = json.loads(GRIDS.read_text())
    props = next(f["properties"] for f in data["features"] if f["id"] == "G-03-07")
    props["responsible"] = props.pop("people")
    props["responsible"][0]["mobile"] = "+86 1"   # (an unknown person field under an unknown key: not looked at)
    path = tmp_path / "typo.geojson"
    path.write_text(json.dumps(data))
    r = gateway("import-grids", str(path), db_url=url, cwd=tmp_path)
    assert r.returncode == 1
    assert "G-03-07: nobody responsible at grid level" in r.stderr and "--allow-unstaffed" in r.stderr
    db = Database(url)
    with db.session() as s:
        assert s.scalars(select(Grid)).first() is None
    r = gateway("import-grids", str(path), "--allow-unstaffed", db_url=url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "warning: G-03-07: unknown property 'responsible'" in r.stderr
    assert "warning: G-03-07: nobody responsible at grid level" in r.stderr
    assert "9 added" in r.stdout
    with db.session() as s:
        assert s.get(Grid, "G-03-07") is not None
    db.dispose()


def test_bad_grids_are_refused_with_reasons(tmp_path):
    url = f"sqlite:///{tmp_path}/gw.db"
    data = json.loads(GRIDS.read_text())
    data["features"][3]["properties"]["parent"] = "C-99"
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps(data))
    r = gateway("import-grids", str(bad), db_url=url, cwd=tmp_path)
    assert r.returncode == 1 and "unknown parent 'C-99'" in r.stderr
    (tmp_path / "broken.geojson").write_text("{")
    r = gateway("import-grids", str(tmp_path / "broken.geojson"), db_url=url, cwd=tmp_path)
    assert r.returncode == 2 and "cannot read" in r.stderr
    db = Database(url)
    with db.session() as s:
        assert s.scalars(select(Grid)).first() is None  # nothing half-imported
    db.dispose()


def test_users_add_list_reset_password_never_from_the_command_line(tmp_path):
    from fastapi.testclient import TestClient

    from gateway.app import create_app
    from gateway.config import Settings

    url = f"sqlite:///{tmp_path}/gw.db"
    assert gateway("import-grids", str(GRIDS), db_url=url, cwd=tmp_path).returncode == 0
    r = gateway("users", "add", "ops.admin", "--role", "admin", "--name", "Night shift lead", db_url=url, cwd=tmp_path,
                GRIDWATCH_USER_PASSWORD="first-password")
    assert r.returncode == 0 and "user ops.admin added: admin in the whole tree" in r.stdout, r.stderr
    r = gateway("users", "add", "li.na", "--role", "grid_worker", "--grid", "G-03-07", db_url=url, cwd=tmp_path,
                GRIDWATCH_USER_PASSWORD="li-na-password")
    assert r.returncode == 0, r.stderr
    listed = gateway("users", "list", db_url=url, cwd=tmp_path).stdout.splitlines()
    assert [line.split()[:4] for line in listed] == [["li.na", "grid_worker", "G-03-07", "active"],
                                                     ["ops.admin", "admin", "(all)", "active"]]
    assert listed[1].endswith("Night shift lead")

    # bad input: each a clear message and a non-zero exit, nothing stored
    for args, env, code, message in [
        (("add", "x.y", "--role", "operator", "--password", "on-the-line"), {}, 2, "visible to every user"),
        (("add", "x.y", "--role", "operator"), {}, 2, "set GRIDWATCH_USER_PASSWORD, or run this in a terminal"),
        (("add", "x.y", "--role", "operator"), {"GRIDWATCH_USER_PASSWORD": "short"}, 2, "at least 8 characters"),
        (("add", "x.y", "--role", "operator", "--grid", "G-99"), {"GRIDWATCH_USER_PASSWORD": "long-enough"}, 1,
         "grid 'G-99' does not exist"),
        (("add", "li.na", "--role", "operator"), {"GRIDWATCH_USER_PASSWORD": "long-enough"}, 1, "exists"),
        (("reset-password", "nobody"), {"GRIDWATCH_USER_PASSWORD": "long-enough"}, 1, "no user 'nobody'"),
    ]:
        env = {"GRIDWATCH_USER_PASSWORD": ""} | env if "GRIDWATCH_USER_PASSWORD" in env else env
        r = gateway("users", *args, db_url=url, cwd=tmp_path, **env)
        assert (r.returncode, message in r.stderr) == (code, True), (args, r.stdout, r.stderr)
    r = gateway("users", "add", "li.na", "--role", "operator", "--if-missing", db_url=url, cwd=tmp_path)
    assert r.returncode == 0 and "exists; unchanged" in r.stdout
    r = gateway("import-grids", str(GRIDS), "--seed-users", "--password", "on-the-line", db_url=url, cwd=tmp_path)
    assert r.returncode == 2 and "visible to every user" in r.stderr

    # the users sign in; a reset password ends the sessions and the old password
    app = create_app(Settings(db_url=url, media_dir=tmp_path / "media"), Database(url))
    with TestClient(app) as http:
        login = http.post("/api/auth/login", json={"username": "ops.admin", "password": "first-password"})
        assert login.status_code == 200, login.text
        token = {"Authorization": f"Bearer {login.json()['token']}"}
        assert http.get("/api/users", headers=token).status_code == 200
        r = gateway("users", "reset-password", "ops.admin", db_url=url, cwd=tmp_path,
                    GRIDWATCH_USER_PASSWORD="second-password")
        assert r.returncode == 0 and "1 session(s) ended" in r.stdout, r.stderr
        http.cookies.clear()
        assert http.get("/api/users", headers=token).status_code == 401
        assert http.post("/api/auth/login", json={"username": "ops.admin", "password": "first-password"}).status_code == 401
        assert http.post("/api/auth/login", json={"username": "ops.admin", "password": "second-password"}).status_code == 200

