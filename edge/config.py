"""The edge worker's YAML configuration (docs/design.md, "Edge configuration").

Environment wins over the file: GRIDWATCH_MQTT_URL, GRIDWATCH_EDGE_ID, GRIDWATCH_SPOOL,
GRIDWATCH_GATEWAY_URL, GRIDWATCH_EDGE_TOKEN.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from camera_profiles.loader import expand_env

ENV_OVERRIDES = {
    "GRIDWATCH_EDGE_ID": ("edge_id",),
    "GRIDWATCH_MQTT_URL": ("mqtt", "url"),
    "GRIDWATCH_SPOOL": ("spool",),
    "GRIDWATCH_GATEWAY_URL": ("gateway", "url"),
    "GRIDWATCH_EDGE_TOKEN": ("gateway", "token"),
}


class GatewayLink(BaseModel):
    """Where clips and snapshots are uploaded (alerts themselves go over MQTT)."""
    model_config = ConfigDict(extra="forbid")
    url: str | None = None
    token: str | None = None


class EdgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    edge_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$")
    mqtt: dict[str, Any] = Field(default_factory=dict)   # validated by edge.delivery.publisher.MqttSettings
    spool: str = "var/edge/spool.db"
    cameras: list[Any] = Field(default_factory=list)     # paths, globs or inline profiles
    status_interval_s: float = Field(30.0, gt=0)
    media_dir: str = "var/edge/media"
    gateway: GatewayLink = Field(default_factory=GatewayLink)
    decode_threads: int | None = Field(None, ge=1, le=16, description=(
        "FFmpeg decoder threads per stream; unset: the cores shared among the streams, at least one"))


class ConfigError(ValueError):
    pass


def load_edge_config(path: str | os.PathLike[str]) -> tuple[EdgeConfig, Path]:
    """The config and the folder that relative camera paths are resolved against."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: an edge configuration is a YAML mapping")
    cameras = data.pop("cameras", [])       # profiles expand their own ${ENV} when loaded
    data = expand_env(data, str(p))
    data["cameras"] = cameras
    for var, keys in ENV_OVERRIDES.items():
        if os.environ.get(var):
            node = data
            for k in keys[:-1]:
                node = node.setdefault(k, {})
            node[keys[-1]] = os.environ[var]
    try:
        return EdgeConfig.model_validate(data), p.parent
    except ValidationError as e:
        lines = "\n".join(f"  {'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise ConfigError(f"{p}: invalid edge configuration\n{lines}") from None
