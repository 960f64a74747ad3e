"""Signed webhooks for incident events.

Each delivery is one HTTP POST of a JSON body:
    {"id": <delivery id>, "ts": <unix seconds>, "topic": <MQTT topic>, "event": ..., "incident": {...}}
with headers
    X-Gridwatch-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed by the webhook's secret>
    X-Gridwatch-Timestamp: <unix seconds, also inside the signed body, so a replay is detectable>
    X-Gridwatch-Delivery:  <delivery id: the same across retries, receivers dedupe on it>
A receiver checks the signature with `verify_signature` (or the same three lines in any language).
Retries and backoff are the outbox relay's job (gateway/outbox_relay.py): a delivery is an
outbox row of its own, so a crash loses nothing.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field

from alerts import topics

SIGNATURE_HEADER = "X-Gridwatch-Signature"
TIMESTAMP_HEADER = "X-Gridwatch-Timestamp"
DELIVERY_HEADER = "X-Gridwatch-Delivery"
WEBHOOK_TOPIC_PREFIX = "webhook:"  # outbox rows for webhook deliveries: topic = "webhook:<name>"


class Webhook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    url: str = Field(pattern=r"^https?://")
    secret: str = Field(min_length=16, description="shared HMAC key, at least 16 characters")
    topics: list[str] = Field(default_factory=lambda: ["#"],
                              description="MQTT filters (+, #) or shell globs (*, ?) on the event topic, "
                                          "e.g. gridwatch/incidents/G-03-* for one community's grids")
    timeout_s: float = 10.0

    def wants(self, topic: str) -> bool:
        return any(fnmatchcase(topic, f) if ("*" in f or "?" in f) else topics.matches(f, topic)
                   for f in self.topics)


class WebhookError(Exception):
    """A delivery that did not get a 2xx answer; retried later."""


def load_webhooks(path: str | Path) -> list[Webhook]:
    """`webhooks:` list from a YAML file (a list at the top level also works)."""
    data = yaml.safe_load(Path(path).read_text()) or []
    items = data.get("webhooks", []) if isinstance(data, dict) else data
    return [Webhook.model_validate(item) for item in items]


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, body), signature or "")


def delivery_body(delivery_id: str, ts: int, topic: str, payload: dict[str, Any]) -> bytes:
    body = {"id": delivery_id, "ts": ts, "topic": topic, **payload}
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


class WebhookSender:
    """POSTs signed bodies; one pooled HTTP client for all webhooks."""

    def __init__(self, client: httpx.Client | None = None):
        self._client = client or httpx.Client(follow_redirects=False)

    def deliver(self, hook: Webhook, delivery_id: str, ts: int, topic: str, payload: dict[str, Any]) -> int:
        """Returns the HTTP status; raises WebhookError unless it is 2xx."""
        body = delivery_body(delivery_id, ts, topic, payload)
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(hook.secret, body),
                   TIMESTAMP_HEADER: str(ts), DELIVERY_HEADER: delivery_id,
                   "User-Agent": "gridwatch-webhooks/1"}
        try:
            r = self._client.post(hook.url, content=body, headers=headers, timeout=hook.timeout_s)
        except httpx.HTTPError as e:
            raise WebhookError(f"webhook {hook.name}: {type(e).__name__}: {e}") from None
        if not 200 <= r.status_code < 300:
            raise WebhookError(f"webhook {hook.name}: HTTP {r.status_code} {r.text[:200]!r}")
        return r.status_code

    def close(self) -> None:
        self._client.close()
