"""`python -m edge COMMAND`: the edge's command line. Each command lives in its own module
with `add_arguments(parser)` and `main(args) -> int`, imported only when used."""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "analyze": ("edge.analyze", "analyse a recorded video as fast as possible into JSONL alerts"),
    "run": ("edge.worker", "run the edge worker: cameras -> alerts over MQTT"),
    "check-profile": ("edge.check_profile", "validate camera profiles and explain every problem"),
    "snapshot": ("edge.snapshot_cmd", "save one privacy-masked frame of a camera, to draw zones on"),
    "discover": ("edge.discover", "find ONVIF cameras and write starter profiles"),
    "sensors": ("edge.sensors.bridge", "run the sensor bridge: IoT messages -> alerts over MQTT"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge", description=__doc__.split("\n")[0])
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
