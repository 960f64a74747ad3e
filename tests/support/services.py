"""Real services for tests: a private Mosquitto per test session and fresh PostgreSQL databases.

Each test run gets its own broker port and database names, so parallel runs never collide.
Missing services are started (or reported clearly) rather than mocked.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
VTEST = SHARED_DATA / "vtest.avi"
TREE = SHARED_DATA / "tree.avi"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def _mosquitto_bin() -> str:
    for cand in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if cand and os.path.exists(cand):
            return cand
    raise RuntimeError("mosquitto is not installed: run `make system-deps` (apt-get install mosquitto)")


class MosquittoBroker:
    """A real Mosquitto on a private loopback port, with persistence so restarts keep sessions."""

    def __init__(self, port: int | None = None, *, max_inflight: int = 0):
        self.port = port or free_port()
        self.max_inflight = max_inflight  # 0: unlimited; else also the Receive Maximum told MQTT 5 clients
        self.dir = Path(tempfile.mkdtemp(prefix="gw-mosq-"))
        os.chmod(self.dir, 0o777)  # mosquitto drops to its own user when started as root
        self.conf = self.dir / "mosquitto.conf"
        self._write_conf()
        self.proc: subprocess.Popen | None = None

    def _write_conf(self) -> None:
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.dir}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 100000\n"
            f"max_inflight_messages {self.max_inflight}\n"
            "message_size_limit 0\n"
            f"log_dest file {self.dir}/mosquitto.log\n"
        )

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, *, fresh_port_on_clash: bool = True) -> "MosquittoBroker":
        for _ in range(5):
            self.proc = subprocess.Popen([_mosquitto_bin(), "-c", str(self.conf)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_port(self.port)
            time.sleep(0.2)
            if self.proc.poll() is None:
                return self
            # another process holds the port (so wait_port saw *its* listener): never let a
            # test talk to somebody else's broker
            if not fresh_port_on_clash:
                break
            self.port = free_port()
            self._write_conf()
        raise RuntimeError(f"mosquitto could not listen on 127.0.0.1:{self.port}; see {self.dir}/mosquitto.log")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start(fresh_port_on_clash=False)   # clients reconnect to the same port

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


PG_ADMIN_URL = os.environ.get("GRIDWATCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def ensure_postgres() -> None:
    """Start the machine's PostgreSQL cluster when it is installed but not running."""
    try:
        wait_port(5432, timeout=0.5)
        return
    except TimeoutError:
        pass
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions:
        raise RuntimeError("PostgreSQL is not installed: run `make system-deps`")
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"], check=False)
    wait_port(5432, timeout=30)


def create_database(prefix: str = "gw_test") -> str:
    """A new, empty database; returns its SQLAlchemy URL (psycopg 3 driver)."""
    import psycopg

    ensure_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[-1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
