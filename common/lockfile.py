"""An exclusive lock beside a data file, held for the life of the process. The edge and the
sensor bridge keep their spool and rule state under a path relative to where they start; two of
them started in one directory must never write one file (each would publish or drop the other's
alerts)."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path


class InUseError(RuntimeError):
    """The file is held by another running process."""


def hold(path: str | os.PathLike[str], what: str) -> int:
    """Lock `<path>.lock` (created with its folder when missing); returns the descriptor, which
    the process keeps open (-1 for an in-memory SQLite ":memory:"). Raises InUseError naming the
    file and the holder's PID."""
    if str(path) == ":memory:":
        return -1
    lock = Path(f"{Path(path).resolve()}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise InUseError(f"{what} {Path(path).resolve()} is in use by another process (pid {holder}); "
                         f"give each process its own {what} path") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd
