"""Gateway settings: a YAML file (`--config gateway.yaml`) and `GRIDWATCH_*` environment
variables; the environment wins over the file, explicit arguments win over both."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDWATCH_", extra="ignore")

    db_url: str = Field("sqlite:///gridwatch.db", description="SQLAlchemy URL; PostgreSQL for replicas")
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    mqtt_prefix: str = "gridwatch"
    mqtt_protocol: Literal["5", "3.1.1"] = "5"  # 3.1.1 for brokers without MQTT 5 (e.g. amqtt)
    # A stable client id + a session that outlives the connection: the broker queues
    # alerts while the gateway is down (docs/design.md, delivery is at-least-once).
    mqtt_client_id: str = "gridwatch-gateway"
    mqtt_session_expiry_s: int = 7 * 24 * 3600
    mqtt_shared_group: str | None = None
    # database workers storing alerts side by side (a source always goes to the same one);
    # 0: 2 on PostgreSQL, 1 on SQLite (one writer at a time anyway)
    ingest_workers: int = Field(0, ge=0, le=16)
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    admin_token: str | None = None
    media_dir: Path = Path("media")
    media_retention: Path | None = Field(None, description="media retention policy YAML (gateway/media/retention.py)")
    media_retention_interval_s: float = Field(3600.0, gt=0, description="how often `serve` applies the media retention policy")
    # blur level per role for served media, e.g. {"grid_worker": 31}; in the environment JSON or "grid_worker=31,integration=15"
    media_blur: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)
    grids: Path | None = Field(None, description="GeoJSON grids imported at start")
    grids_allow_unstaffed: bool = Field(False, description="import grids with nobody responsible for their level")
    routing: Path | None = Field(None, description="routing rules YAML for the engine")
    timer_interval_s: float = 1.0
    deadline_warn_minutes: float = Field(30.0, ge=0, description="warn this long before a resolution deadline (0: never)")
    outbox_interval_s: float = 1.0
    outbox_keep_days: float = Field(7.0, gt=0, description="delivered outbox rows are deleted after this many days")
    outbox_relay: bool = Field(True, description="`serve` runs the outbox relay; false when a `gateway relay` process does")
    token_ttl_hours: float = 12.0
    public_url: str | None = None
    # signed webhooks for incident events (see gateway.outbox.webhooks.Webhook): [{name, url, secret, ...}]
    webhooks: list[dict[str, Any]] = Field(default_factory=list)
    # people told of their cases (see gateway.outbox.channels): [{name, kind: wecom|dingtalk|feishu|email|sms, ...}]
    notifications: list[dict[str, Any]] = Field(default_factory=list)
    language: str = Field("zh-CN", description="the console's language when neither the user nor the browser says")
    timezone: str = Field("Asia/Shanghai", description="the time zone of deadlines in messages and of quiet hours")

    @field_validator("media_blur", mode="before")
    @classmethod
    def _blur_table(cls, value: Any) -> Any:
        """JSON, or the older "role=level,role=level" form (parts without a whole number are ignored)."""
        if not isinstance(value, str):
            return value
        if value.strip().startswith("{"):
            return json.loads(value)
        table = {}
        for part in value.split(","):
            role, _, level = part.partition("=")
            if role.strip() and level.strip().isdigit():
                table[role.strip()] = int(level)
        return table

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if _YAML_FILE is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=_YAML_FILE))
        return tuple(sources)

    @classmethod
    def load(cls, config: str | Path | None = None, **overrides: Any) -> "Settings":
        """Settings from `config` (YAML, optional), then the environment, then `overrides`."""
        global _YAML_FILE
        if config is not None and not Path(config).is_file():
            raise FileNotFoundError(f"gateway config file not found: {config}")
        _YAML_FILE = Path(config) if config else None
        try:
            return cls(**overrides)
        finally:
            _YAML_FILE = None


# Which YAML file `Settings.load` is reading (pydantic-settings asks the class, not the instance).
_YAML_FILE: Path | None = None


def add_config_argument(parser) -> None:
    parser.add_argument("--config", metavar="GATEWAY.yaml", help="settings file; GRIDWATCH_* environment variables win over it")
