"""The operating system's name of the calling thread (Linux: 15 bytes, what `top -H`, `ps -L`
and /proc/<pid>/task/<tid>/comm show), so that an edge box's CPU can be told per camera and
per stage: FFmpeg names its own decoder threads `av:<codec>:df<n>`; ours are `cap:<camera>`
(capture), `rec:<camera>` (a record stream), `det:<camera>` (analysis). Python 3.11 names
only the Python object; elsewhere than Linux this does nothing."""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

_PR_SET_NAME = 15
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if sys.platform == "linux" else None


def name_this_thread(name: str) -> None:
    if _libc is not None:
        _libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)
