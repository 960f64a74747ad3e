"""A PostgreSQL server of a test's own, which the test may stop and restart.

The machine's cluster serves every engineer's tests at once and must never be restarted;
fault tests that restart PostgreSQL run this instead: `initdb` into a temp dir, `pg_ctl`
on a free loopback port, the socket in the same dir. Started as the `postgres` OS user
when the tests run as root (PostgreSQL refuses to run as root).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from tests.support.services import free_port, wait_port


def _bin_dir() -> Path:
    root = Path("/usr/lib/postgresql")
    versions = sorted((p for p in root.iterdir() if (p / "bin" / "initdb").exists()),
                      key=lambda p: int(p.name)) if root.is_dir() else []
    if not versions:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql: "
                           "run `make system-deps` (apt-get install postgresql)")
    return versions[-1] / "bin"


class PrivatePostgres:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="gw-pg-"))
        self.data = self.dir / "data"
        self.bin = _bin_dir()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--no-instructions")
        self.dbname = f"gw_{uuid.uuid4().hex[:8]}"

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bin / tool), *args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=120)

    @property
    def url(self) -> str:
        """SQLAlchemy URL (psycopg 3) of the test database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{self.dbname}"

    def start(self) -> "PrivatePostgres":
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=100"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"), "-o", opts, "-w", "start")
        wait_port(self.port, timeout=30)
        return self

    def create_database(self) -> str:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.dbname}"')
        return self.url

    def stop(self, mode: str = "fast") -> None:
        """`fast` drops clients and shuts down cleanly; `immediate` is a crash (recovery on start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
