"""One log format for every gridwatch process, without the libraries' chatter.

gmqtt logs every connection, subscription and acknowledgement at INFO, httpx every request; our own
MQTT link and media uploader already say what matters (connected, lost, retrying), so the libraries
speak only when something is wrong.
"""
from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET = ("gmqtt", "httpx", "httpcore")  # loggers kept at WARNING


def setup_logging(level: int | str = logging.INFO) -> None:
    logging.basicConfig(level=level.upper() if isinstance(level, str) else level, format=FORMAT)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
