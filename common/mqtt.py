"""MQTT connection settings, read the same way by the edge (paho) and the gateway (gmqtt):
the broker URL (`mqtt://` or `mqtts://`, `user:pass@` allowed), credentials and TLS."""
from __future__ import annotations

import ssl
from typing import Literal
from urllib.parse import SplitResult, unquote, urlsplit

from pydantic import BaseModel, ConfigDict

SCHEMES = ("mqtt", "mqtts", "tcp", "ssl")
TLS_SCHEMES = ("mqtts", "ssl")


class MqttSettings(BaseModel):
    """The `mqtt:` block of the edge (and sensor bridge) YAML; the gateway builds one from its settings."""

    model_config = ConfigDict(extra="forbid")

    url: str = "mqtt://127.0.0.1:1883"     # mqtt:// or mqtts:// (TLS); user:pass@ allowed
    username: str | None = None
    password: str | None = None
    ca_certs: str | None = None             # TLS: CA bundle; None = the system's
    certfile: str | None = None             # TLS client certificate (instead of a password)
    keyfile: str | None = None
    client_id: str | None = None            # default: gridwatch-edge-<edge_id>
    prefix: str = "gridwatch"
    protocol: Literal["5", "3.1.1"] = "5"
    message_expiry_s: int | None = 86400    # MQTT 5: a broker drops alerts older than this
    max_inflight: int = 20                  # measured, see benchmarks/bench_delivery.py
    keepalive_s: int = 30
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 10.0


def _url(settings: MqttSettings) -> SplitResult:
    url = urlsplit(settings.url)
    if url.scheme not in SCHEMES:
        raise ValueError(f"mqtt url {settings.url!r}: scheme must be mqtt:// or mqtts://")
    return url


def uses_tls(settings: MqttSettings) -> bool:
    return _url(settings).scheme in TLS_SCHEMES


def host_port(settings: MqttSettings) -> tuple[str, int]:
    url = _url(settings)
    return url.hostname or "127.0.0.1", url.port or (8883 if url.scheme in TLS_SCHEMES else 1883)


def credentials(settings: MqttSettings) -> tuple[str | None, str | None]:
    """User name and password: the settings' own, else those in the URL."""
    url = _url(settings)
    username = settings.username or (unquote(url.username) if url.username else None)
    password = settings.password or (unquote(url.password) if url.password else None)
    return username, password


def tls_context(settings: MqttSettings) -> ssl.SSLContext | None:
    """TLS for mqtts:// (CA bundle, or the system's; an optional client certificate)."""
    if not uses_tls(settings):
        return None
    ctx = ssl.create_default_context(cafile=settings.ca_certs)
    if settings.certfile:
        ctx.load_cert_chain(settings.certfile, settings.keyfile)
    return ctx
