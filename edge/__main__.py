"""`python -m edge COMMAND`: the edge's command line."""
from __future__ import annotations

import sys

from common.cli import dispatch

COMMANDS = {
    "analyze": ("edge.commands.analyze", "analyse a recorded video as fast as possible into JSONL alerts"),
    "run": ("edge.commands.run", "run the edge worker: cameras -> alerts over MQTT"),
    "check-profile": ("edge.commands.check_profile", "validate camera profiles and explain every problem"),
    "snapshot": ("edge.commands.snapshot", "save one privacy-masked frame of a camera, to draw zones on"),
    "discover": ("edge.commands.discover", "find ONVIF cameras and write starter profiles"),
    "demo-camera": ("edge.commands.democlip", "write the demo camera's clip and profile (used by `python -m gateway demo`)"),
    "sensors": ("edge.commands.sensors", "run the sensor bridge: IoT messages -> alerts over MQTT"),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("python -m edge", "gridwatch edge: cameras and sensors -> alerts", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
