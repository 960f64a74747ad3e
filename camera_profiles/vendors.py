"""RTSP URL templates of common camera makers, for writing a profile's `source`.

Fill with `rtsp_url("hikvision", host=..., username=..., password=..., channel=1, stream="sub")`.
For ONVIF devices prefer `source: {onvif: ...}`: the camera tells its own URI.
"""
from __future__ import annotations

from urllib.parse import quote

# {channel} is 1-based; {stream} is "main" or "sub", mapped per vendor below.
TEMPLATES: dict[str, dict[str, str]] = {
    "hikvision": {
        "url": "rtsp://{auth}{host}:{port}/Streaming/Channels/{channel}{stream_no:02d}",
        "main": "1", "sub": "2",
    },
    "dahua": {
        "url": "rtsp://{auth}{host}:{port}/cam/realmonitor?channel={channel}&subtype={stream_no}",
        "main": "0", "sub": "1",
    },
    "uniview": {
        "url": "rtsp://{auth}{host}:{port}/unicast/c{channel}/s{stream_no}/live",
        "main": "0", "sub": "1",
    },
    "axis": {
        "url": "rtsp://{auth}{host}:{port}/axis-media/media.amp?camera={channel}&streamprofile={stream}",
        "main": "main", "sub": "sub",
    },
    # Generic ONVIF (Profile S) devices do not share a path: ask the device with
    # GetStreamUri. This template is the common default of many OEM firmwares.
    "onvif": {
        "url": "rtsp://{auth}{host}:{port}/onvif{stream_no}",
        "main": "1", "sub": "2",
    },
}


def rtsp_url(vendor: str, host: str, username: str | None = None, password: str | None = None,
             channel: int = 1, stream: str = "main", port: int = 554) -> str:
    try:
        t = TEMPLATES[vendor.lower()]
    except KeyError:
        raise ValueError(f"unknown vendor {vendor!r}; known: {', '.join(sorted(TEMPLATES))}") from None
    if stream not in ("main", "sub"):
        raise ValueError(f"stream must be 'main' or 'sub', not {stream!r}")
    auth = ""
    if username:
        auth = quote(username, safe="") + (":" + quote(password or "", safe="")) + "@"
    no = t[stream]
    return t["url"].format(auth=auth, host=host, port=port, channel=channel, stream=no,
                           stream_no=int(no) if no.isdigit() else no)
