"""`python -m gateway migrate`: bring the database schema up to date (Alembic)."""
from __future__ import annotations

import argparse

from gateway.config import Settings, add_config_argument
from gateway.db import Database


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_argument(p)
    p.add_argument("--revision", default="head", help="target revision (default: head)")


def main(args: argparse.Namespace) -> int:
    settings = Settings.load(args.config)
    db = Database(settings.db_url)
    db.upgrade(args.revision)
    db.dispose()
    print(f"database at {args.revision}: {settings.db_url.split('@')[-1]}")
    return 0
