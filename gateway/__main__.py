"""`python -m gateway COMMAND`: the gateway's command line."""
from __future__ import annotations

import sys

from common.cli import dispatch

COMMANDS = {
    "serve": ("gateway.commands.serve", "run the gateway: MQTT ingest, timers, REST API and console"),
    "relay": ("gateway.commands.relay", "publish the outbox (incident events, webhooks) on its own, beside `serve --no-relay`"),
    "import-grids": ("gateway.commands.import_grids", "load or update the grids from a GeoJSON file"),
    "export-grids": ("gateway.commands.export_grids", "write the grids as GeoJSON"),
    "users": ("gateway.commands.users", "add, list and reset the passwords of console users"),
    "migrate": ("gateway.commands.migrate", "bring the database schema up to date (Alembic)"),
    "demo": ("gateway.commands.demo", "run the whole system on embedded defaults"),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("python -m gateway", "gridwatch gateway: alerts -> grid incidents", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
