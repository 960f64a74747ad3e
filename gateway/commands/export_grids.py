"""`python -m gateway export-grids [OUT.geojson]`: the grids as GeoJSON (stdout by default)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sqlalchemy import select

from gateway.config import Settings, add_config_argument
from gateway.db import Database
from gateway.db.grids import grids_geojson
from gateway.db.models import Grid


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", nargs="?", help="output file (default: stdout)")
    add_config_argument(p)


def main(args: argparse.Namespace) -> int:
    db = Database(Settings.load(args.config).db_url)
    db.upgrade()
    with db.session() as s:
        data = grids_geojson(list(s.scalars(select(Grid).order_by(Grid.id))))
    db.dispose()
    text = json.dumps(data, indent=1, ensure_ascii=False)
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0
