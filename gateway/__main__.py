"""`python -m gateway COMMAND`: the gateway's command line. Each command lives in its own
module with `add_arguments(parser)` and `main(args) -> int`, imported only when used."""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "serve": ("gateway.serve", "run the gateway: MQTT ingest, timers, REST API and console"),
    "import-grids": ("gateway.grid_import", "load or update the grids from a GeoJSON file"),
    "export-grids": ("gateway.grid_export", "write the grids as GeoJSON"),
    "migrate": ("gateway.migrate", "bring the database schema up to date (Alembic)"),
    "demo": ("gateway.demo", "run the whole system on embedded defaults"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    argv = sys.argv[1:] if argv is None else argv
    chosen = argv[0] if argv and argv[0] in COMMANDS else None
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            importlib.import_module(module).add_arguments(p)
        else:
            p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    return int(importlib.import_module(COMMANDS[args.command][0]).main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
