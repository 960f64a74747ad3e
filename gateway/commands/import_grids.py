"""`python -m gateway import-grids GRIDS.geojson`: load or update the grids (validated by the
engine), replace their people, and re-resolve every known camera's grid."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from gateway.commands.users import PasswordError, password_argument_error, read_password, refuse_password_argument
from gateway.config import Settings, add_config_argument
from gateway.db import Database
from gateway.db.grids import import_grids
from gateway.engine.grids import GridImportError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("geojson", help="a GeoJSON FeatureCollection of grids (docs/design.md, Grids)")
    add_config_argument(p)
    p.add_argument("--allow-unstaffed", action="store_true",
                   help="load grids with nobody responsible for their level (their incidents get no assignee)")
    p.add_argument("--seed-users", action="store_true",
                   help="create a user for every person without one (password: GRIDWATCH_USER_PASSWORD or the prompt)")
    refuse_password_argument(p)


def main(args: argparse.Namespace) -> int:
    if args.password is not None:
        print(password_argument_error("import-grids"), file=sys.stderr)
        return 2
    password = None
    if args.seed_users:
        try:
            password = read_password("the seeded users")
        except PasswordError as e:
            print(f"import-grids: {e}", file=sys.stderr)
            return 2
    settings = Settings.load(args.config)
    try:
        data = json.loads(Path(args.geojson).read_text())
    except (OSError, json.JSONDecodeError) as e:
        print(f"import-grids: cannot read {args.geojson}: {e}", file=sys.stderr)
        return 2
    db = Database(settings.db_url)
    db.upgrade()
    now = datetime.now(UTC)
    try:
        with db.session() as s:
            summary = import_grids(s, data, now, allow_unstaffed=args.allow_unstaffed)
            seeded = []
            if password is not None:
                from gateway.commands.seed import seed_users

                seeded = seed_users(s, password, now)
    except GridImportError as e:
        print(f"import-grids: {args.geojson}: {e}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    for w in summary["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    changes = [f"{len(summary[k])} {k}" for k in ("added", "updated", "removed") if summary[k]]
    print(f"grids: {', '.join(changes) or 'no change'}; {len(summary['cameras_moved'])} cameras/sensors re-resolved;"
          f" {len(seeded)} users created")
    return 0
