"""ONVIF device client: device information, media profiles, stream and snapshot URIs.

Built on onvif-zeep (the dependency pinned in pyproject). It is synchronous, which suits
capture's one-thread-per-camera design; its maintained async successor (onvif-zeep-async)
would force an event loop into every camera thread for no gain here. Where onvif-zeep falls
short we work around it in this one module:
- it calls `logging.basicConfig()` on import: we import it lazily, after the process set up logging;
- it has no timeout of its own: we pass a zeep Transport with connect/read timeouts;
- its errors are one opaque ONVIFError: we map them to clear reasons (unreachable, wrong
  credentials, unknown profile, not an ONVIF device).
A cheap TCP probe runs first, so an unreachable camera costs no WSDL parsing on every retry.
"""
from __future__ import annotations

import functools
import logging
import os
import re
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from camera_profiles.schema import OnvifSource

log = logging.getLogger("gridwatch.edge.onvif")


class OnvifError(Exception):
    """A failed ONVIF exchange. `kind`: unreachable | auth | profile | protocol."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class StreamProfile:
    token: str
    name: str
    width: int | None = None
    height: int | None = None
    encoding: str | None = None
    fps: float | None = None

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}" if self.width and self.height else "?"

    def describe(self) -> str:
        return f"{self.token} ({self.name}, {self.resolution}{', ' + self.encoding if self.encoding else ''})"


@dataclass
class OnvifMedia:
    stream_uri: str                 # with credentials injected: give it to the capture only
    snapshot_uri: str | None
    profile: StreamProfile
    profiles: list[StreamProfile]
    device: dict[str, Any] = field(default_factory=dict)
    shared: bool = False            # a record stream that is the detect stream itself (one-profile camera)


# ---- pure helpers -----------------------------------------------------------------------
DETECT_MIN_WIDTH = 320  # narrower sub streams lose small objects: detection takes the next larger


def pick_detect_profile(profiles: list[StreamProfile]) -> StreamProfile:
    """The stream detection uses when the profile names none: the smallest at least
    DETECT_MIN_WIDTH wide (the sub stream), else the main one (a camera with one profile)."""
    if not profiles:
        raise OnvifError("profile", "the device has no media profile")
    wide = [p for p in profiles if p.width and p.width >= DETECT_MIN_WIDTH]
    if not wide:
        return pick_profile(profiles, "main")
    return min(wide, key=lambda p: (p.width or 0) * (p.height or 0))


def pick_profile(profiles: list[StreamProfile], wanted: str | None) -> StreamProfile:
    """The profile a camera profile names: "main" (largest), "sub" (the next smaller),
    a token or profile name (case-insensitive), or "WIDTHxHEIGHT"; None: `pick_detect_profile`."""
    if not profiles:
        raise OnvifError("profile", "the device has no media profile")
    if wanted is None:
        return pick_detect_profile(profiles)
    def area(p: StreamProfile) -> int:
        return (p.width or 0) * (p.height or 0)

    by_size = sorted(profiles, key=area, reverse=True)
    w = wanted.strip()
    if w.lower() == "main":
        return by_size[0]
    if w.lower() == "sub":
        smaller = [p for p in by_size[1:] if area(p) < area(by_size[0])]
        if smaller:
            return smaller[0]
        if len(by_size) > 1:
            return by_size[1]
        raise OnvifError("profile", f"no sub stream: the device has one profile, {by_size[0].describe()}; "
                                    "use profile: main")
    for p in profiles:
        if w == p.token or w.lower() == p.token.lower() or w.lower() == p.name.lower():
            return p
    m = re.fullmatch(r"(\d+)\s*[xX]\s*(\d+)", w)
    if m:
        size = (int(m.group(1)), int(m.group(2)))
        for p in profiles:
            if (p.width, p.height) == size:
                return p
    known = "; ".join(p.describe() for p in profiles)
    raise OnvifError("profile", f"no profile {wanted!r} on the device; it has: {known}")


def with_credentials(uri: str, username: str | None, password: str | None) -> str:
    """The URI with user and password in it (unless it already carries some)."""
    if not username:
        return uri
    parts = urlsplit(uri)
    if parts.username or not parts.hostname:
        return uri
    auth = quote(username, safe="") + ":" + quote(password or "", safe="")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = f"{auth}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _explain(e: Exception, where: str) -> OnvifError:
    """Map zeep/requests/onvif errors to a reason an installer can act on."""
    text = f"{e}"
    cause = e
    while getattr(cause, "__cause__", None) is not None or getattr(cause, "__context__", None) is not None:
        cause = cause.__cause__ or cause.__context__
        text += f" | {cause}"
    low = text.lower()
    if any(k in low for k in ("not authorized", "notauthorized", "401", "unauthorized", "authority failure",
                              "sender not authorized", "password")):
        return OnvifError("auth", f"ONVIF device {where}: wrong user name or password (the device refused the credentials)")
    if any(k in low for k in ("connection refused", "timed out", "timeout", "no route", "name or service not known",
                              "max retries", "connection aborted", "connection reset", "failed to establish")):
        return OnvifError("unreachable", f"ONVIF device {where} unreachable: {text.split(' | ')[-1][:200]}")
    return OnvifError("protocol", f"ONVIF device {where} answered unexpectedly: {text[:300]}")


def _onvif_zeep():
    """Import onvif-zeep without letting its import-time `logging.basicConfig()` take over
    the process's logging (it would add a root handler at INFO when none is set yet)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    import onvif
    from onvif.client import ONVIFService
    from onvif.definition import SERVICES

    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("zeep").setLevel(logging.WARNING)
    return onvif, ONVIFService, SERVICES


def _wsdl_path(name: str) -> str:
    import onvif

    return os.path.join(os.path.dirname(os.path.dirname(onvif.__file__)), "wsdl", name)


def _settings():
    from zeep import Settings

    return Settings(strict=False, xml_huge_tree=True)


@functools.lru_cache(maxsize=16)
def _wsdl_document(path: str):
    """A parsed WSDL, shared by every client: parsing costs ~0.1 s of CPU, and a camera that
    keeps failing would otherwise pay it on every retry. Read-only once parsed."""
    from zeep.transports import Transport
    from zeep.wsdl import Document

    return Document(path, Transport(), settings=_settings())


def probe_tcp(host: str, port: int, timeout_s: float) -> None:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as e:
        raise OnvifError("unreachable", f"ONVIF device {host}:{port} unreachable: {e.strerror or e}") from None


# ---- the device -------------------------------------------------------------------------
class OnvifDevice:
    """One ONVIF device (Profile S device and media services, and the event service)."""

    def __init__(self, host: str, port: int = 80, username: str | None = None, password: str | None = None,
                 timeout_s: float = 5.0):
        self.host, self.port, self.username, self.password = host, port, username, password
        self.timeout_s = timeout_s
        self.where = f"{host}:{port}"
        probe_tcp(host, port, timeout_s)
        from zeep.transports import Transport

        self.transport = Transport(timeout=timeout_s, operation_timeout=timeout_s)
        # Not onvif.ONVIFCamera: its constructor opens a PullPoint subscription on every
        # connect and never closes it, which exhausts the few subscription slots a camera has.
        self.devicemgmt = self.service("devicemgmt", f"http://{host}:{port}/onvif/device_service")
        caps = self.call(self.devicemgmt.GetCapabilities, {"Category": "All"})
        self.xaddrs = {name: self.reachable(getattr(getattr(caps, name, None), "XAddr", None))
                       for name in ("Media", "Events")}
        if not self.xaddrs["Media"]:
            raise OnvifError("protocol", f"ONVIF device {self.where} has no media service (not a Profile S camera)")
        self.media = self.service("media", self.xaddrs["Media"])

    def service(self, name: str, xaddr: str, binding: str | None = None, transport=None):
        """An onvif-zeep service client for `xaddr` (binding defaults to the service's own)."""
        try:
            _onvif, ONVIFService, SERVICES = _onvif_zeep()
            from onvif.client import UsernameDigestTokenDtDiff
            from zeep import Client

            d = SERVICES[name]
            path, settings = _wsdl_path(d["wsdl"]), _settings()
            transport = transport or self.transport
            client = Client(wsdl=_wsdl_document(path), transport=transport, settings=settings,
                            wsse=UsernameDigestTokenDtDiff(self.username or "", self.password or "", use_digest=True))
            return ONVIFService(xaddr, self.username or "", self.password or "", path, zeep_client=client,
                                binding_name="{%s}%s" % (d["ns"], binding or d["binding"]), transport=transport)
        except Exception as e:  # noqa: BLE001 - onvif-zeep raises anything; _explain names it
            raise _explain(e, self.where) from None

    @classmethod
    def from_source(cls, source: OnvifSource, timeout_s: float = 5.0) -> "OnvifDevice":
        return cls(source.host, source.port, source.username, source.password, timeout_s)

    def call(self, fn, *args):
        """Call an onvif-zeep operation; errors become a clear OnvifError."""
        try:
            return fn(*args)
        except Exception as e:  # noqa: BLE001
            raise _explain(e, self.where) from None

    def device_info(self) -> dict[str, Any]:
        info = self.call(self.devicemgmt.GetDeviceInformation)
        return {
            "manufacturer": getattr(info, "Manufacturer", None),
            "model": getattr(info, "Model", None),
            "firmware": getattr(info, "FirmwareVersion", None),
            "serial": getattr(info, "SerialNumber", None),
            "hardware_id": getattr(info, "HardwareId", None),
            "address": self.where,
        }

    def profiles(self) -> list[StreamProfile]:
        out = []
        for p in self.call(self.media.GetProfiles) or []:
            vec = getattr(p, "VideoEncoderConfiguration", None)
            res = getattr(vec, "Resolution", None) if vec is not None else None
            rate = getattr(vec, "RateControl", None) if vec is not None else None
            out.append(StreamProfile(
                token=p.token, name=getattr(p, "Name", None) or p.token,
                width=getattr(res, "Width", None), height=getattr(res, "Height", None),
                encoding=getattr(vec, "Encoding", None) if vec is not None else None,
                fps=getattr(rate, "FrameRateLimit", None) if rate is not None else None))
        return out

    def reachable(self, url: str | None, keep_port: bool = False) -> str | None:
        """`url` pointed at the address we reach the device by. Cameras behind NAT or port
        forwarding, or renumbered by DHCP, advertise addresses we cannot reach."""
        if not url:
            return url
        parts = urlsplit(url)
        if not parts.hostname or parts.hostname == self.host:
            return url
        port = parts.port if keep_port else self.port
        auth = url.split("//", 1)[1].split("@", 1)[0] + "@" if parts.username else ""
        log.info("ONVIF device %s advertises %s; using %s instead", self.where, parts.hostname, self.host)
        netloc = f"{auth}{self.host}" + (f":{port}" if port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def stream_uri(self, token: str) -> str:
        req = {"StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}, "ProfileToken": token}
        # the RTSP port stays the device's: only the host is ours
        return self.reachable(self.call(self.media.GetStreamUri, req).Uri, keep_port=True)

    def snapshot_uri(self, token: str) -> str | None:
        try:
            return self.reachable(self.media.GetSnapshotUri({"ProfileToken": token}).Uri)
        except Exception:  # noqa: BLE001 - snapshots are optional in Profile S
            return None

    def events_xaddr(self) -> str | None:
        """Where the event service lives, or None when the device has none."""
        return self.xaddrs.get("Events")


def resolve_media(source: OnvifSource, timeout_s: float = 5.0, detect: OnvifSource | None = None) -> OnvifMedia:
    """Ask the device for its profiles, pick the one the camera profile names, and return
    its stream URI (credentials injected), snapshot URI and device information.
    `detect`: for a record stream, the detect stream's source; when it is the same device and
    picks the same profile, the media come back `shared` (record the detect stream instead)."""
    dev = OnvifDevice.from_source(source, timeout_s)
    info = dev.device_info()
    profiles = dev.profiles()
    try:
        chosen = pick_profile(profiles, source.profile)
    except OnvifError as e:
        raise OnvifError(e.kind, f"ONVIF device {dev.where}: {e}") from None
    shared = (detect is not None and (detect.host, detect.port) == (source.host, source.port)
              and pick_profile(profiles, detect.profile).token == chosen.token)
    stream = dev.stream_uri(chosen.token)
    if not stream:
        raise OnvifError("protocol", f"ONVIF device {dev.where} gave no stream URI for profile {chosen.token}")
    snapshot = dev.snapshot_uri(chosen.token)
    info.update({"profile": chosen.token, "resolution": chosen.resolution, "encoding": chosen.encoding,
                 "profiles": [p.token for p in profiles], "snapshot_uri": snapshot})  # as the device gave it: no password
    return OnvifMedia(stream_uri=with_credentials(stream, source.username, source.password),
                      snapshot_uri=with_credentials(snapshot, source.username, source.password) if snapshot else None,
                      profile=chosen, profiles=profiles, device=info, shared=shared)
