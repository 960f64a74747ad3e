"""`python -m edge discover`: find ONVIF cameras and write starter profiles.

Two ways to find them, usable together:
- WS-Discovery: a Probe multicast on an interface (`--interface eth0` or its address),
  and unicast Probes to every address of `--range` (cameras that ignore multicast, or sit
  behind a router that drops it, still answer a unicast Probe);
- HTTP: every address of `--range` on `--ports` is asked for its ONVIF device service
  (cameras with WS-Discovery switched off, as hardening guides recommend).
Each device found is then asked for maker, model, firmware and stream profiles (with
`--username/--password`), shown in a table, and with `--write-profiles DIR` gets a starter
camera profile whose password is an ${ENV} reference, never the password itself.
"""
from __future__ import annotations

import argparse
import fcntl
import ipaddress
import json
import re
import socket
import struct
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from lxml import etree

WSD_ADDR, WSD_PORT = "239.255.255.250", 3702
MAX_HOSTS = 4096  # a typo like /8 must not start a scan of millions of addresses

PROBE = ('<?xml version="1.0" encoding="UTF-8"?>'
         '<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" '
         'xmlns:w="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
         'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
         'xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
         '<e:Header><w:MessageID>urn:uuid:{id}</w:MessageID>'
         '<w:To e:mustUnderstand="true">urn:schemas-xmlsoap-org:ws:2005:04:discovery</w:To>'
         '<w:Action e:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</w:Action>'
         '</e:Header><e:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></e:Body></e:Envelope>')

DEVICE_PROBE = ('<?xml version="1.0" encoding="UTF-8"?>'
                '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
                '<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>')


@dataclass
class Found:
    xaddr: str                          # the device service URL
    via: str                            # ws-discovery | http
    endpoint: str | None = None         # urn:uuid of the device
    scopes: list[str] = field(default_factory=list)
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    serial: str | None = None
    profiles: list[str] = field(default_factory=list)   # "token WxH"
    error: str | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.xaddr).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.xaddr)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def name(self) -> str | None:
        for s in self.scopes:
            if "/name/" in s:
                return s.rsplit("/name/", 1)[1].replace("%20", " ")
        return None


# ---- pure parts ---------------------------------------------------------------------------
def parse_probe_match(data: bytes) -> list[Found]:
    """The devices in a WS-Discovery ProbeMatches datagram; anything else gives []."""
    try:
        root = etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return []
    out = []
    for match in root.iter("{*}ProbeMatch"):
        xaddrs = (match.findtext("{*}XAddrs") or "").split()
        endpoint = match.findtext("{*}EndpointReference/{*}Address")
        scopes = (match.findtext("{*}Scopes") or "").split()
        # prefer an IPv4 http address: what a profile can use as host
        xaddrs.sort(key=lambda x: (not x.startswith("http://"), ":" in (urlsplit(x).hostname or "")))
        if xaddrs:
            out.append(Found(xaddr=xaddrs[0], via="ws-discovery", endpoint=endpoint, scopes=scopes))
    return out


def expand_range(spec: str) -> list[str]:
    """Hosts of "192.168.1.0/28", "192.168.1.10-192.168.1.20", "192.168.1.10-20" or one address."""
    spec = spec.strip()
    try:
        if "/" in spec:
            net = ipaddress.ip_network(spec, strict=False)
            if net.num_addresses > MAX_HOSTS + 2:
                raise ValueError(f"more than {MAX_HOSTS} addresses")
            hosts = [str(h) for h in (net.hosts() if net.num_addresses > 2 else net)]
        elif "-" in spec:
            start, end = spec.split("-", 1)
            first = ipaddress.ip_address(start)
            last = ipaddress.ip_address(end) if "." in end or ":" in end else \
                ipaddress.ip_address(start.rsplit(".", 1)[0] + "." + end)
            if int(last) < int(first):
                raise ValueError("the range ends before it starts")
            if int(last) - int(first) >= MAX_HOSTS:
                raise ValueError(f"more than {MAX_HOSTS} addresses")
            hosts = [str(ipaddress.ip_address(i)) for i in range(int(first), int(last) + 1)]
        else:
            hosts = [str(ipaddress.ip_address(spec))]
    except ValueError as e:
        raise ValueError(f"bad address range {spec!r}: {e}") from None
    if len(hosts) > MAX_HOSTS:
        raise ValueError(f"bad address range {spec!r}: more than {MAX_HOSTS} addresses")
    return hosts


def interface_address(name_or_ip: str) -> str:
    """The IPv4 address of an interface name (Linux), or the address itself."""
    try:
        return str(ipaddress.IPv4Address(name_or_ip))
    except ValueError:
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name_or_ip.encode()[:15]))  # SIOCGIFADDR
        except OSError as e:
            raise ValueError(f"interface {name_or_ip!r}: {e.strerror or e}") from None
    return socket.inet_ntoa(packed[20:24])


def profile_id(found: Found) -> str:
    base = f"cam-{found.model or 'onvif'}-{found.host}"
    return re.sub(r"[^A-Za-z0-9_.\-]+", "-", base).strip("-").lower()[:100]


def starter_profile(found: Found, username: str | None) -> dict:
    env = re.sub(r"[^A-Z0-9]+", "_", profile_id(found).upper()).strip("_") + "_PASS"
    onvif: dict = {"host": found.host, "port": found.port, "username": username or "admin",
                   "password": "${" + env + "}"}
    if len(found.profiles) >= 2:
        # detect on the sub stream, record the main one; with one profile (or none seen) the
        # profile is left to the edge's pick, which falls back to the main stream
        onvif.update(profile="sub", record_profile="main")
    return {
        "id": profile_id(found),
        "name": " ".join(x for x in (found.manufacturer, found.model, found.name) if x) or found.xaddr,
        "source": {"onvif": onvif},
        "detect": {"fps": 5, "width": 640},
        "zones": [],
        "lines": [],
        "tamper": {"covered": True, "defocus": True, "moved": True, "min_seconds": 3},
    }


# ---- network parts -----------------------------------------------------------------------
def ws_discover(unicast: list[str], interface_ip: str | None, multicast: bool, timeout_s: float,
                port: int = WSD_PORT) -> tuple[list[Found], int]:
    """Probe by multicast and/or unicast; returns the devices and the count of bad replies."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    found: dict[str, Found] = {}
    bad = 0
    try:
        sock.bind((interface_ip or "", 0))
        msg_ids = set()

        def send(addr: str) -> None:
            mid = str(uuid.uuid4())
            msg_ids.add(mid)
            try:
                sock.sendto(PROBE.format(id=mid).encode(), (addr, port))
            except OSError:
                pass  # an address that cannot be reached is just not a camera

        if multicast:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
            if interface_ip:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface_ip))
            send(WSD_ADDR)
        for host in unicast:
            send(host)
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, sender = sock.recvfrom(65536)
            except (TimeoutError, OSError):
                break
            matches = parse_probe_match(data)
            if not matches:
                bad += 1
            for f in matches:
                if f.host != sender[0]:  # a device naming an address we cannot reach (NAT): use the one that answered
                    parts = urlsplit(f.xaddr)
                    f.xaddr = parts._replace(netloc=f"{sender[0]}:{f.port}").geturl()
                found.setdefault(f.endpoint or f.xaddr, f)
    finally:
        sock.close()
    return list(found.values()), bad


def _is_onvif(host: str, port: int, timeout_s: float) -> str | None:
    """The device service URL when host:port speaks ONVIF (any SOAP answer, even 'not authorised')."""
    import httpx

    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
        url = f"http://{host}:{port}/onvif/device_service"
        r = httpx.post(url, content=DEVICE_PROBE, timeout=timeout_s,
                       headers={"Content-Type": "application/soap+xml; charset=utf-8"})
    except (OSError, Exception):  # noqa: BLE001 - closed, filtered or not HTTP: not a camera
        return None
    return url if "Envelope" in r.text else None


def http_discover(hosts: list[str], ports: list[int], timeout_s: float) -> list[Found]:
    pairs = [(h, p) for h in hosts for p in ports]
    with ThreadPoolExecutor(max_workers=min(64, max(1, len(pairs)))) as pool:
        urls = pool.map(lambda hp: _is_onvif(hp[0], hp[1], timeout_s), pairs)
    return [Found(xaddr=u, via="http") for u in urls if u]


def describe(found: Found, username: str | None, password: str | None, timeout_s: float) -> Found:
    """Fill in maker, model, firmware and profiles by asking the device."""
    from edge.onvif.client import OnvifDevice, OnvifError

    try:
        dev = OnvifDevice(found.host, found.port, username, password, timeout_s)
        info = dev.device_info()
        found.manufacturer, found.model = info["manufacturer"], info["model"]
        found.firmware, found.serial = info["firmware"], info["serial"]
        found.profiles = [f"{p.token} {p.resolution}" for p in dev.profiles()]
    except OnvifError as e:
        found.error = str(e)
    return found


# ---- the command -------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--interface", help="interface name or IPv4 address for the WS-Discovery multicast")
    p.add_argument("--range", action="append", default=[], metavar="RANGE",
                   help="addresses to probe: 192.168.1.0/24, 192.168.1.10-40 or one address (repeatable)")
    p.add_argument("--ports", default="80,8000,8080,8899", help="HTTP ports to probe in --range (default 80,8000,8080,8899)")
    p.add_argument("--wsd-port", type=int, default=WSD_PORT, help=argparse.SUPPRESS)  # tests: a loopback responder
    p.add_argument("--no-multicast", action="store_true", help="only probe --range, send no multicast")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for answers (default 3)")
    p.add_argument("--username", help="ONVIF user, to read maker, model and profiles")
    p.add_argument("--password", help="ONVIF password (or set GRIDWATCH_ONVIF_PASSWORD)")
    p.add_argument("--write-profiles", metavar="DIR", help="write a starter camera profile per device into DIR")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def main(args: argparse.Namespace) -> int:
    import os

    from rich.console import Console
    from rich.table import Table

    def err(text: str) -> None:
        print(text, file=sys.stderr)

    password = args.password or os.environ.get("GRIDWATCH_ONVIF_PASSWORD")
    try:
        hosts = [h for spec in args.range for h in expand_range(spec)]
        ports = [int(p) for p in args.ports.split(",") if p.strip()]
        interface_ip = interface_address(args.interface) if args.interface else None
    except ValueError as e:
        err(f"error: {e}")
        return 2
    multicast = not args.no_multicast
    if not multicast and not hosts:
        err("error: nothing to probe: give --range, or allow the multicast")
        return 2

    found, bad = ws_discover(hosts, interface_ip, multicast, args.timeout, args.wsd_port)
    if hosts:
        known = {(f.host, f.port) for f in found}
        found += [f for f in http_discover(hosts, ports, min(args.timeout, 2.0)) if (f.host, f.port) not in known]
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(lambda f: describe(f, args.username, password, args.timeout), found))
    found.sort(key=lambda f: (ipaddress.ip_address(f.host) if _ip(f.host) else ipaddress.ip_address("0.0.0.0"), f.port))

    written = []
    if args.write_profiles:
        out_dir = Path(args.write_profiles)
        out_dir.mkdir(parents=True, exist_ok=True)
        for f in found:
            path = out_dir / f"{profile_id(f)}.yaml"
            header = (f"# Starter profile for {f.manufacturer or '?'} {f.model or '?'} at {f.xaddr}\n"
                      f"# Set {starter_profile(f, args.username)['source']['onvif']['password'][2:-1]} in the environment, "
                      "then draw zones on `python -m edge snapshot --profile` output.\n")
            path.write_text(header + yaml.safe_dump(starter_profile(f, args.username), sort_keys=False))
            written.append(str(path))

    if args.json:
        print(json.dumps([asdict(f) | {"host": f.host, "port": f.port} for f in found], indent=2))
    else:
        table = Table(title=f"ONVIF devices found: {len(found)}")
        for col in ("address", "maker", "model", "firmware", "stream profiles", "found by", "note"):
            table.add_column(col, overflow="fold")
        for f in found:
            table.add_row(f"{f.host}:{f.port}", f.manufacturer or "?", f.model or "?", f.firmware or "?",
                          ", ".join(f.profiles) or "?", f.via, f.error or "")
        Console(width=200).print(table)
    if bad:
        err(f"{bad} answer(s) were not WS-Discovery ProbeMatches and were ignored")
    for w in written:
        err(f"wrote {w}")
    return 0


def _ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False

