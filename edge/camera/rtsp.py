"""What capture needs to know about a camera URL before and after OpenCV opens it: whether it is
a file, the URL without its password (for logs and status), and why an RTSP open failed, in words
(one RTSP DESCRIBE of our own, digest or basic auth, read for its status code)."""
from __future__ import annotations

import base64
import hashlib
import re
import socket
from urllib.parse import unquote, urlsplit, urlunsplit

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://")
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443, "rtmp": 1935}


class CaptureError(Exception):
    """A connect attempt failed; the message says why in words an operator understands."""


def redact(url: str) -> str:
    """The URL without its password, for logs, events and status."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def is_file_source(source: str) -> bool:
    return not _URL.match(source)


def rtsp_describe_status(url: str, timeout_s: float) -> int:
    """The RTSP status code of a DESCRIBE of `url`, answering a Basic or Digest challenge with
    the URL's credentials: tells "wrong password" (401) from "no such stream" (404), which
    OpenCV cannot."""
    parts = urlsplit(url)
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    clean = urlunsplit((parts.scheme, parts.hostname + (f":{parts.port}" if parts.port else ""),
                        parts.path, parts.query, ""))
    with socket.create_connection((parts.hostname, parts.port or 554), timeout=timeout_s) as sock:
        sock.settimeout(timeout_s)

        def describe(cseq: int, auth: str | None) -> tuple[int, dict[str, str]]:
            req = f"DESCRIBE {clean} RTSP/1.0\r\nCSeq: {cseq}\r\nAccept: application/sdp\r\n"
            if auth:
                req += f"Authorization: {auth}\r\n"
            sock.sendall((req + "\r\n").encode())
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                head += chunk
            lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers.setdefault(k.strip().lower(), v.strip())
            length = int(headers.get("content-length", "0") or 0)
            body_seen = len(head.split(b"\r\n\r\n", 1)[1]) if b"\r\n\r\n" in head else 0
            while body_seen < length:  # drain the body so the next answer starts clean
                chunk = sock.recv(min(65536, length - body_seen))
                if not chunk:
                    break
                body_seen += len(chunk)
            return status, headers

        status, headers = describe(1, None)
        challenge = headers.get("www-authenticate", "")
        if status != 401 or not user:
            return status
        if challenge.lower().startswith("digest"):
            fields = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
            ha1 = hashlib.md5(f"{user}:{fields.get('realm', '')}:{password}".encode()).hexdigest()
            ha2 = hashlib.md5(f"DESCRIBE:{clean}".encode()).hexdigest()
            resp = hashlib.md5(f"{ha1}:{fields.get('nonce', '')}:{ha2}".encode()).hexdigest()
            auth = (f'Digest username="{user}", realm="{fields.get("realm", "")}", nonce="{fields.get("nonce", "")}", '
                    f'uri="{clean}", response="{resp}"')
        else:
            auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        return describe(2, auth)[0]


def explain_rtsp_failure(url: str, timeout_s: float) -> str | None:
    """Why an RTSP open failed, in words, when the camera says so; None when it does not."""
    try:
        status = rtsp_describe_status(url, timeout_s)
    except (OSError, ValueError, IndexError):
        return None
    if status == 401:
        return "wrong user name or password (the camera answered 401 Unauthorized)"
    if status == 403:
        return "access forbidden for this user (403)"
    if status == 404:
        return "no stream at this path on the camera (404 Not Found)"
    if status == 200:
        return None  # the camera describes the stream: the failure is in the media itself
    return f"the camera refused the stream (RTSP {status})"
