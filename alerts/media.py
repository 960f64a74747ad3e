"""The content hash of an alert's media (clips, snapshots): what the edge announces with an
upload and the gateway checks on arrival, so a partial or altered file is detected."""
from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path, chunk: int = 1 << 20) -> tuple[str, int]:
    """(hex SHA-256, size in bytes) of a file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size
