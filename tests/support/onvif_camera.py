"""A real ONVIF device on loopback, built from PyPI `ipycam`'s ONVIF service (device information,
profiles, stream and snapshot URIs, WS-Security UsernameToken) served over HTTP on 127.0.0.1.

ipycam's own `IPCamera.start()` binds every interface and joins WS-Discovery multicast, so only
its ONVIF service and HTTP handler are used here. Its stream URIs point at our RTSP test server
(`tests/support/rtsp_server.py`, mounted at the main and sub stream paths). ipycam has no event
service: when a `PullPointResponder` is attached, the device advertises an Events XAddr and
forwards the events and subscription endpoints to it. A WS-Discovery responder answers unicast
Probes on a loopback UDP port (no multicast).
"""
from __future__ import annotations

import http.server
import re
import socket
import threading
import uuid

import numpy as np

from tests.support.services import free_port


class OnvifCamera:
    def __init__(self, rtsp_port: int, *, username: str = "admin", password: str = "secret",
                 main_path: str = "video_main", sub_path: str = "video_sub", port: int | None = None,
                 pullpoint=None, snapshot: np.ndarray | None = None, name: str = "Loopback Cam",
                 manufacturer: str = "Gridwatch Test", model: str = "LoopCam-1", serial: str = "GW-0001",
                 advertised_ip: str = "127.0.0.1"):
        from ipycam import CameraConfig, ONVIFService

        self.port = port or free_port()
        self.config = CameraConfig(
            name=name, manufacturer=manufacturer, model=model, serial_number=serial,
            # advertised_ip other than 127.0.0.1: a camera behind NAT, naming its LAN address
            firmware_version="1.3.0-test", local_ip=advertised_ip, onvif_port=self.port, rtsp_port=rtsp_port,
            main_stream_name=main_path, sub_stream_name=sub_path, main_width=768, main_height=576,
            main_fps=10, sub_width=384, sub_height=288, sub_fps=10, username=username, password=password)
        self.onvif = ONVIFService(self.config)
        self.pullpoint = pullpoint
        self.snapshot = snapshot
        self._http: http.server.ThreadingHTTPServer | None = None
        self._wsd: socket.socket | None = None
        self.wsd_port: int | None = None
        self._threads: list[threading.Thread] = []

    @property
    def xaddr(self) -> str:
        return f"http://127.0.0.1:{self.port}/onvif/device_service"

    # ---- lifecycle -----------------------------------------------------------------
    def start(self) -> "OnvifCamera":
        from ipycam import IPCameraHTTPHandler

        device = self

        class Handler(IPCameraHTTPHandler):
            camera = device  # ipycam's handler reads .config, .onvif and get_snapshot_frame()

            def do_POST(self):
                path = self.path.split("?")[0]
                if device.pullpoint is not None and (path.startswith("/onvif/events") or path.startswith("/onvif/pullpoint")):
                    return device._forward_events(self, path)
                if path.startswith("/onvif/") and device.pullpoint is not None:
                    return device._onvif_with_events(self)
                return super().do_POST()

        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._http.daemon_threads = True
        t = threading.Thread(target=self._http.serve_forever, name="onvif-http", daemon=True)
        t.start()
        self._threads.append(t)
        if self.pullpoint is not None:
            self.pullpoint.base_url = f"http://127.0.0.1:{self.port}"
        return self

    def start_discovery(self) -> int:
        """Answer WS-Discovery Probes sent to 127.0.0.1:<returned port> (unicast, no multicast)."""
        self._wsd = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._wsd.bind(("127.0.0.1", 0))
        self._wsd.settimeout(0.5)
        self.wsd_port = self._wsd.getsockname()[1]
        t = threading.Thread(target=self._answer_probes, name="onvif-wsd", daemon=True)
        t.start()
        self._threads.append(t)
        return self.wsd_port

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._wsd is not None:
            sock, self._wsd = self._wsd, None
            sock.close()
        for t in self._threads:
            t.join(5)
        self._threads.clear()

    def __enter__(self) -> "OnvifCamera":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- what ipycam's handler needs -----------------------------------------------
    def get_snapshot_frame(self):
        return None if self.snapshot is None else self.snapshot.copy()

    # ---- events (ipycam has none): advertise and forward to the PullPoint responder
    def _onvif_with_events(self, handler) -> None:
        length = int(handler.headers.get("Content-Length", 0))
        body = handler.rfile.read(length).decode("utf-8")
        if not self.onvif.verify_usernametoken(body):
            return _reply(handler, 401, self.onvif.fault("Sender not authorized"))
        action = handler.headers.get("SOAPAction", "").strip('"') or _action_from_body(body)
        response = self.onvif.handle_action(action, body) or self.onvif.fault("not implemented")
        if "GetCapabilitiesResponse" in response:
            events = (f"<tt:Events><tt:XAddr>http://127.0.0.1:{self.port}/onvif/events_service</tt:XAddr>"
                      "<tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport>"
                      "<tt:WSPullPointSupport>true</tt:WSPullPointSupport>"
                      "<tt:WSPausableSubscriptionManagerInterfaceSupport>false</tt:WSPausableSubscriptionManagerInterfaceSupport>"
                      "</tt:Events>")
            response = response.replace("<tt:Media>", events + "<tt:Media>", 1)
        _reply(handler, 200, response)

    def _forward_events(self, handler, path: str) -> None:
        length = int(handler.headers.get("Content-Length", 0))
        body = handler.rfile.read(length).decode("utf-8")
        if not self.onvif.verify_usernametoken(body):
            return _reply(handler, 401, self.onvif.fault("Sender not authorized"))
        status, response = self.pullpoint.handle(path, body)
        _reply(handler, status, response)

    def _answer_probes(self) -> None:
        while self._wsd is not None:
            try:
                data, addr = self._wsd.recvfrom(65536)
            except (TimeoutError, OSError):
                continue
            msg = data.decode("utf-8", errors="ignore")
            if "ProbeMatch" in msg or not re.search(r"<(?:[\w.-]+:)?Probe[\s/>]", msg):
                continue  # bad datagrams are ignored, like a camera does
            m = re.search(r"MessageID[^>]*>(.+?)</", msg)
            reply = self.onvif.create_probe_match(m.group(1) if m else f"urn:uuid:{uuid.uuid4()}")
            try:
                self._wsd.sendto(reply.encode("utf-8"), addr)
            except (OSError, AttributeError):
                pass


def _action_from_body(body: str) -> str:
    m = re.search(r"<s(?:oap)?[\w-]*:Body[^>]*>\s*<(?:[\w-]+:)?(\w+)", body) or re.search(r"Body>\s*<(?:[\w-]+:)?(\w+)", body)
    return m.group(1) if m else ""


def _reply(handler, status: int, text: str) -> None:
    data = text.encode("utf-8")
    handler.send_response(status)
    handler.send_header("Content-Type", "application/soap+xml; charset=utf-8")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
