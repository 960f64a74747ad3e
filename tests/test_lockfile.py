"""common.lockfile between real processes: a file held by one is refused to another, naming the
holder; a crash lets go of it."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from common.lockfile import InUseError, hold

pytestmark = pytest.mark.quick  # no service: `make test-quick`

HOLDER = "import sys; from common.lockfile import hold; hold(sys.argv[1], 'spool'); print('held', flush=True); sys.stdin.read()"


def test_a_held_file_is_refused_naming_the_holder_and_freed_by_its_end(tmp_path):
    spool = tmp_path / "var" / "spool.db"
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(spool)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline() == "held\n"
        with pytest.raises(InUseError, match=rf"spool {spool} is in use by another process \(pid {child.pid}\)"):
            hold(spool, "spool")
    finally:
        child.kill()
        child.wait()
    fd = hold(spool, "spool")       # the kernel released the dead holder's lock
    assert (tmp_path / "var" / "spool.db.lock").read_text() == f"{os.getpid()}\n"
    os.close(fd)
    assert hold(":memory:", "rule state") == -1   # nothing on disk to share
