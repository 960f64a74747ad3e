"""`python -m gateway demo` (what `make demo` runs): the whole system on embedded defaults.

- MQTT: GRIDWATCH_MQTT_URL when set, else a Mosquitto already listening on 127.0.0.1:1883,
  else an embedded broker (amqtt) started here;
- the gateway on SQLite (var/demo/gridwatch.db), with the example grids and their users;
- an edge worker whose camera is a generated clip looping at real speed as if live.
Everything runs as child processes of this one; Ctrl-C stops them all cleanly.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DEMO_PASSWORD = "gridwatch"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", default="var/demo", help="where the demo keeps its database, clip and spool")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRIDWATCH_HTTP_PORT", 8080)))
    p.add_argument("--broker", choices=["auto", "embedded"], default="auto",
                   help="auto: GRIDWATCH_MQTT_URL, else a local Mosquitto, else embedded")
    p.add_argument("--fresh", action="store_true", help="start from an empty database")


def _listening(host: str, port: int) -> bool:
    return _reach(host, port) is None


def _reach(host: str, port: int, timeout: float = 0.5) -> str | None:
    """None when something accepts connections at host:port, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as e:
        return e.strerror or str(e) or type(e).__name__


def _check_broker(url: str, within_s: float = 5.0) -> None:
    """The broker GRIDWATCH_MQTT_URL names must answer within seconds: else say so, and how to fix it."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    try:
        port = parts.port or (8883 if parts.scheme in ("mqtts", "ssl") else 1883)
    except ValueError:
        raise RuntimeError(f"GRIDWATCH_MQTT_URL={url!r} has no valid port") from None
    deadline = time.monotonic() + within_s
    while (why := _reach(host, port, timeout=1.0)) is not None and time.monotonic() < deadline:
        time.sleep(0.5)
    if why is not None:
        raise RuntimeError(
            f"the MQTT broker at GRIDWATCH_MQTT_URL={url} cannot be reached ({host}:{port}: {why}).\n"
            "  Start that broker, correct GRIDWATCH_MQTT_URL, or unset it: the demo then uses a Mosquitto on "
            "127.0.0.1:1883, else starts a broker of its own.")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Demo:
    def __init__(self, args: argparse.Namespace):
        self.dir = Path(args.dir).resolve()
        self.port = args.port
        self.broker_mode = args.broker
        self.fresh = args.fresh
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.token = os.environ.get("GRIDWATCH_ADMIN_TOKEN") or "demo-admin-token"

    def say(self, msg: str) -> None:
        print(f"[demo] {msg}", flush=True)

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.dir / f"{name}.log", "ab")
        # own process group: Ctrl-C reaches only us, and we stop children in order
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def mqtt_url(self) -> str:
        if self.broker_mode == "auto":
            if os.environ.get("GRIDWATCH_MQTT_URL"):
                _check_broker(os.environ["GRIDWATCH_MQTT_URL"])
                return os.environ["GRIDWATCH_MQTT_URL"]
            if _listening("127.0.0.1", 1883):
                self.say("using the MQTT broker already listening on 127.0.0.1:1883")
                return "mqtt://127.0.0.1:1883"
        port = 1883 if not _listening("127.0.0.1", 1883) else _free_port()
        conf = self.dir / "amqtt.yaml"
        conf.write_text(
            "listeners:\n  default:\n    type: tcp\n"
            f"    bind: 127.0.0.1:{port}\n"
            "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n"
        )
        amqtt = Path(sys.executable).with_name("amqtt")
        self.spawn("broker", [str(amqtt), "-c", str(conf)], dict(os.environ))
        deadline = time.monotonic() + 20
        while not _listening("127.0.0.1", port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the embedded broker did not start; see {self.dir / 'broker.log'}")
            time.sleep(0.2)
        self.say(f"started an embedded MQTT broker (amqtt, MQTT 3.1.1) on 127.0.0.1:{port}")
        return f"mqtt://127.0.0.1:{port}"

    def run(self) -> int:
        self.dir.mkdir(parents=True, exist_ok=True)
        db = self.dir / "gridwatch.db"
        if self.fresh:
            for f in self.dir.glob("*.db*"):
                f.unlink()
        # the camera is the edge's business: it writes the clip and its profile
        subprocess.run([sys.executable, "-m", "edge", "demo-camera", "--dir", str(self.dir)], check=True,
                       stdout=subprocess.DEVNULL)
        mqtt_url = self.mqtt_url()
        protocol = "3.1.1" if self.broker_mode == "embedded" or "broker" in dict(self.procs) else "5"
        (self.dir / "edge.yaml").write_text(
            "edge_id: edge-demo-01\n"
            f"mqtt: {{url: \"{mqtt_url}\", protocol: \"{protocol}\"}}\n"
            f"spool: {self.dir / 'edge-spool.db'}\n"
            f"media_dir: {self.dir / 'edge-media'}\n"   # the demo keeps all it writes under --dir
            "cameras: [cam-demo-lawn.yaml]\n"
            "status_interval_s: 10\n"
        )
        env = dict(os.environ,
                   GRIDWATCH_DB_URL=f"sqlite:///{db}",
                   GRIDWATCH_MQTT_URL=mqtt_url,
                   GRIDWATCH_MQTT_PROTOCOL=protocol,
                   GRIDWATCH_HTTP_HOST="127.0.0.1",
                   GRIDWATCH_HTTP_PORT=str(self.port),
                   GRIDWATCH_ADMIN_TOKEN=self.token,
                   GRIDWATCH_MEDIA_DIR=str(self.dir / "media"),
                   GRIDWATCH_GATEWAY_URL=f"http://127.0.0.1:{self.port}",
                   GRIDWATCH_EDGE_TOKEN=self.token,
                   PYTHONUNBUFFERED="1")
        py = sys.executable
        subprocess.run([py, "-m", "gateway", "migrate"], env=env, check=True)
        subprocess.run([py, "-m", "gateway", "import-grids", str(EXAMPLES / "grids.geojson"), "--seed-users"],
                       env={**env, "GRIDWATCH_USER_PASSWORD": DEMO_PASSWORD}, check=True)
        # an admin who can sign in on the login page too (the admin token is for scripts)
        subprocess.run([py, "-m", "gateway", "users", "add", "admin", "--role", "admin", "--name", "管理员",
                        "--if-missing"], env={**env, "GRIDWATCH_USER_PASSWORD": DEMO_PASSWORD}, check=True)
        self.spawn("gateway", [py, "-m", "gateway", "serve"], env)
        base = f"http://127.0.0.1:{self.port}"
        self._wait_http(base + "/healthz")
        self.spawn("edge", [py, "-m", "edge", "run", "--config", str(self.dir / "edge.yaml")], env)
        self.say(f"console:  {base}/            (users from the example grids, password '{DEMO_PASSWORD}')")
        self._print_users(base)
        self.say(f"API:      {base}/api/incidents  (Authorization: Bearer {self.token})")
        self.say(f"MQTT:     {mqtt_url}  (alerts on gridwatch/alerts/#, incidents on gridwatch/incidents/#)")
        self.say(f"logs:     {self.dir}/*.log      Ctrl-C stops everything")
        return self._supervise()

    def _print_users(self, base: str) -> None:
        """Every user the demo has, with role and grid, and the page each lands on."""
        answer = httpx.get(base + "/api/users", params={"limit": 500},
                           headers={"Authorization": f"Bearer {self.token}"}, timeout=10)
        answer.raise_for_status()
        users = answer.json()["items"]
        rows = [(u["username"], u["role"], u["grid_id"] or "(all)",
                 "/m/ (phone)" if u["role"] == "grid_worker" else "/console/", u["display_name"] or "") for u in users]
        widths = [max(len(r[i]) for r in rows) for i in range(4)] if rows else []
        self.say(f"users ({len(users)}; user, role, grid, lands on, name):")
        for row in rows:
            self.say("  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=False)) + "  " + row[4])

    def _wait_http(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        said = None  # what /healthz last answered, if anything
        while time.monotonic() < deadline:
            for name, proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.dir / (name + '.log')}")
            try:
                r = httpx.get(url, timeout=1)
                if r.status_code == 200:
                    return
                said = f"{r.status_code} {r.text}"
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        if said and '"mqtt":false' in said.replace(" ", ""):
            raise RuntimeError(f"the gateway cannot reach the MQTT broker ({url} answered {said} for {timeout:.0f}s); "
                               f"see {self.dir / 'gateway.log'}")
        raise RuntimeError(f"{url} did not answer within {timeout}s" + (f" (last answer: {said})" if said else ""))

    def _supervise(self) -> int:
        stop = {"flag": False}
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.update(flag=True))
        seen = 0
        while not stop["flag"]:
            for name, proc in self.procs:
                if proc.poll() is not None:
                    self.say(f"{name} exited with {proc.returncode}; see {self.dir / (name + '.log')}")
                    stop["flag"] = True
            try:
                r = httpx.get(f"http://127.0.0.1:{self.port}/api/incidents",
                              headers={"Authorization": f"Bearer {self.token}"}, timeout=2)
                total = r.json().get("total", 0) if r.status_code == 200 else seen
                if total > seen:
                    self.say(f"{total} incident(s) open or recorded so far")
                    seen = total
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(1)
        return self.shutdown()

    def shutdown(self) -> int:
        self.say("stopping ...")
        # edge first (it flushes its spool), then the gateway, then the broker
        order = {"edge": 0, "gateway": 1, "broker": 2}
        for _name, proc in sorted(self.procs, key=lambda p: order.get(p[0], 9)):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.say("stopped")
        return 0


def main(args: argparse.Namespace) -> int:
    demo = Demo(args)
    try:
        return demo.run()
    except (RuntimeError, subprocess.CalledProcessError) as e:
        print(f"[demo] error: {e}", file=sys.stderr)
        demo.shutdown()
        return 1
