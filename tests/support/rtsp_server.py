"""A real RTSP camera on loopback: Debian's GStreamer RTSP server serving a video file in a loop
as live H.264. Runs under Debian's /usr/bin/python3 (python3-gi), not the venv.

    /usr/bin/python3 tests/support/rtsp_server.py --file vtest.avi --port 8554 --path /cam [--path /sub]
        [--user admin --password secret] [--width 384]

A reader pipeline decodes the file at real speed (seeking back to the start at its end) and
pushes each frame into the served media's appsrc, which stamps live timestamps: clients see
an endless live stream, like a camera. Short GOPs (1 s) let a reconnecting client decode at once.

`RtspCamera` (importable from the venv) starts, kills, stalls (SIGSTOP) and restarts it.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"


class RtspCamera:
    """The server as a subprocess, driven by tests."""

    def __init__(self, file: str | os.PathLike[str], port: int | None = None, path: str = "/cam",
                 user: str | None = None, password: str | None = None, width: int = 384,
                 extra_paths: tuple[str, ...] = (), digest: bool = False):
        from tests.support.services import free_port

        self.file, self.port, self.path = str(file), port or free_port(), path
        self.user, self.password, self.width = user, password, width
        self.extra_paths = extra_paths  # more mount points serving the same footage (main/sub)
        self.digest = digest            # Digest instead of Basic authentication (as Hikvision/Dahua)
        self.proc: subprocess.Popen | None = None
        self.stopped = False

    @property
    def url(self) -> str:
        auth = f"{self.user}:{self.password}@" if self.user else ""
        return f"rtsp://{auth}127.0.0.1:{self.port}{self.path}"

    def start(self, timeout: float = 20.0) -> "RtspCamera":
        from tests.support.services import wait_port

        cmd = [SYSTEM_PYTHON, str(Path(__file__).resolve()), "--file", self.file, "--port", str(self.port),
               "--width", str(self.width)]
        for p in (self.path, *self.extra_paths):
            cmd += ["--path", p]
        if self.user:
            cmd += ["--user", self.user, "--password", self.password or ""] + (["--digest"] if self.digest else [])
        # stderr to a file: a pipe nobody reads would block the server once full
        self.log = tempfile.NamedTemporaryFile(prefix="gw-rtsp-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log)
        try:
            wait_port(self.port, timeout=timeout)
        except TimeoutError:
            err = Path(self.log.name).read_text(errors="replace")[-2000:]
            self.kill()
            raise RuntimeError(f"RTSP server did not start: {err}") from None
        self._describe(timeout)
        self.stopped = False
        return self

    def _describe(self, timeout: float) -> None:
        """One RTSP DESCRIBE before the tests connect: the server then prepares the (shared)
        media once, loading its GStreamer plugins, which on a cold machine can take longer than
        a client's open timeout."""
        import base64
        import socket

        auth = ""
        if self.user and not self.digest:
            token = base64.b64encode(f"{self.user}:{self.password or ''}".encode()).decode()
            auth = f"Authorization: Basic {token}\r\n"
        request = (f"DESCRIBE rtsp://127.0.0.1:{self.port}{self.path} RTSP/1.0\r\nCSeq: 1\r\n"
                   f"Accept: application/sdp\r\n{auth}\r\n").encode()
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(request)
            reply = sock.recv(4096)
        if not reply.startswith(b"RTSP/1.0 "):
            raise RuntimeError(f"RTSP server answered DESCRIBE with {reply[:200]!r}")

    def kill(self) -> None:
        if self.proc is not None:
            if self.stopped:
                self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None
            self.log.close()
            os.unlink(self.log.name)
        self.stopped = False

    def restart(self) -> None:
        self.kill()
        self.start()

    def stall(self) -> None:
        """Freeze the server: connections stay open but no byte flows (a hung camera)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        self.stopped = True

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)
        self.stopped = False

    def __enter__(self) -> "RtspCamera":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.kill()


# ---- the server itself (system python + GStreamer) ------------------------------------
def serve(file: str, port: int, paths: list[str], width: int, user: str | None, password: str | None,
          digest: bool = False) -> None:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer

    Gst.init(None)
    loop = GLib.MainLoop()
    caps = f"video/x-raw,format=I420,width={width},pixel-aspect-ratio=1/1"
    reader = Gst.parse_launch(
        f'filesrc location="{file}" ! decodebin ! videoconvert ! videoscale ! {caps} '
        "! appsink name=sink sync=true max-buffers=2 drop=true emit-signals=true")
    sink = reader.get_by_name("sink")
    targets: list = []  # appsrcs of the media being served (a shared media: at most one)

    def on_sample(appsink):
        sample = appsink.emit("pull-sample")
        for src in list(targets):
            if src.get_property("caps") is None:
                src.set_property("caps", sample.get_caps())
            buf = sample.get_buffer().copy()
            buf.pts = buf.dts = Gst.CLOCK_TIME_NONE  # appsrc stamps live time
            src.emit("push-buffer", buf)
        return Gst.FlowReturn.OK

    sink.connect("new-sample", on_sample)

    def on_bus(_bus, msg):
        if msg.type == Gst.MessageType.EOS:  # loop the file forever
            reader.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0)
        elif msg.type == Gst.MessageType.ERROR:
            print("reader error:", msg.parse_error(), file=sys.stderr)
            loop.quit()
        return True

    bus = reader.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_bus)

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        "( appsrc name=src is-live=true do-timestamp=true format=time "
        "! videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 bitrate=800 "
        "! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=1 )")
    factory.set_shared(True)

    def on_configure(_factory, media):
        src = media.get_element().get_child_by_name("src")
        targets.append(src)
        media.connect("unprepared", lambda *_: src in targets and targets.remove(src))

    factory.connect("media-configure", on_configure)

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    if user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        if digest:
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(user, password or "", token)
        else:
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password or ""), token)
        server.set_auth(auth)
        perms = GstRtspServer.RTSPPermissions()
        perms.add_role_from_structure(Gst.Structure.new_from_string(
            "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"))
        factory.set_permissions(perms)
    for path in paths:
        server.get_mount_points().add_factory(path, factory)
    reader.set_state(Gst.State.PLAYING)
    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on 127.0.0.1:{port}")
    signal.signal(signal.SIGTERM, lambda *_: loop.quit())
    loop.run()
    reader.set_state(Gst.State.NULL)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--file", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", action="append", help="mount point, repeatable (default /cam)")
    ap.add_argument("--width", type=int, default=384)
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--digest", action="store_true")
    a = ap.parse_args()
    serve(a.file, a.port, a.path or ["/cam"], a.width, a.user, a.password, a.digest)


class TcpProxy:
    """A loopback TCP proxy in front of a camera: `cut()` drops every open connection at once
    (a network blip), the camera itself keeps running; cheap enough for 100 reconnect cycles."""

    def __init__(self, target_port: int):
        import socket
        import threading

        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._conns: list = []
        self._running = True
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        import socket
        import threading

        while self._running:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self) -> None:
        import socket

        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self._running = False
        self._listener.close()
        self.cut()
