"""`python -m edge COMMAND`: the edge's command line."""
from __future__ import annotations

import sys

from edge.cli import dispatch

COMMANDS = {
    "analyze": ("edge.analyze", "analyse a recorded video as fast as possible into JSONL alerts"),
    "run": ("edge.worker", "run the edge worker: cameras -> alerts over MQTT"),
    "check-profile": ("edge.check_profile", "validate camera profiles and explain every problem"),
    "snapshot": ("edge.snapshot_cmd", "save one privacy-masked frame of a camera, to draw zones on"),
    "discover": ("edge.discover", "find ONVIF cameras and write starter profiles"),
    "sensors": ("edge.sensors.bridge", "run the sensor bridge: IoT messages -> alerts over MQTT"),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("python -m edge", "gridwatch edge: cameras and sensors -> alerts", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
