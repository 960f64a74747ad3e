"""Sensor bridge configuration (docs/design.md, "Sensor bridge configuration"), as pydantic models.

Extensions over the DESIGN example (all optional):
- `mqtt` is the edge's `MqttSettings` block (url, credentials, TLS, `prefix`, ...);
- `spool` (alert spool file), `state` (rule-state SQLite file),
  `timezone` (for `active_hours`), `publish_clear` (send a recovery alert, see rules.py);
- `zigbee2mqtt_topic` / `chirpstack_topic` / `client_id`: base topics and MQTT session id;
- `hass: {enabled, discovery_prefix, cameras, camera_edge_id}` or the shorthand `hass_discovery: true`;
- per sensor: `power: mains|battery` (picks the default `offline_after_s` like Zigbee2MQTT:
  10 min for mains, 25 h for battery), `offline_debounce_s`, `name`;
- per rule: `name`, `below`/`clear_above`, `rises_by`/`falls_by` + `within_s` (rate of change),
  `active_hours: "22:00-06:00"` (the rule only raises inside those local hours).
Environment wins over the file: GRIDWATCH_MQTT_URL, GRIDWATCH_SENSORS_SPOOL, GRIDWATCH_SENSORS_STATE.
Full reference: edge/sensors/README.md.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerts.schema import AlertType, Location, Severity
from common.mqtt import MqttSettings

_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
SENSOR_TYPES = {AlertType.sensor_alarm, AlertType.sensor_threshold, AlertType.sensor_offline,
                AlertType.sensor_battery_low}
ENV_OVERRIDES = {"GRIDWATCH_MQTT_URL": ("mqtt", "url"), "GRIDWATCH_SENSORS_SPOOL": ("spool",),
                 "GRIDWATCH_SENSORS_STATE": ("state",)}
DEFAULT_OFFLINE_S = {"mains": 600.0, "battery": 90000.0}  # Zigbee2MQTT's availability defaults


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChirpstackRef(_Strict):
    dev_eui: str = Field(pattern=r"^[0-9A-Fa-f]{16}$")

    @field_validator("dev_eui")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.lower()  # ChirpStack writes devEui in lower case in topics and payloads


class SensorSource(_Strict):
    """Exactly one of: a Zigbee2MQTT friendly name, a ChirpStack device, or a topic of its own."""
    zigbee2mqtt: str | None = Field(None, min_length=1)
    chirpstack: ChirpstackRef | None = None
    topic: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one(self) -> "SensorSource":
        given = [k for k in ("zigbee2mqtt", "chirpstack", "topic") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of zigbee2mqtt, chirpstack, topic")
        if self.topic is not None and any(c in self.topic for c in "+#"):
            raise ValueError("topic must not contain MQTT wildcards")
        return self


class Rule(_Strict):
    """One condition on one field. Exactly one condition kind: `equals`, `above`, `below`,
    `rises_by`, `falls_by`."""
    field: str = Field(min_length=1)
    type: AlertType
    severity: Severity | None = None           # default: minor for sensor.battery_low, else major
    name: str | None = None
    equals: bool | int | float | str | None = None
    above: float | None = None
    clear_below: float | None = None
    below: float | None = None
    clear_above: float | None = None
    rises_by: float | None = Field(None, gt=0)
    falls_by: float | None = Field(None, gt=0)
    within_s: float | None = Field(None, gt=0)
    for_s: float = Field(0.0, ge=0)
    active_hours: str | None = None

    @model_validator(mode="after")
    def _check(self) -> "Rule":
        kinds = [k for k in ("equals", "above", "below", "rises_by", "falls_by") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one condition: equals, above, below, rises_by or falls_by")
        if self.type not in SENSOR_TYPES or self.type == AlertType.sensor_offline:
            raise ValueError("type must be sensor.alarm, sensor.threshold or sensor.battery_low "
                             "(sensor.offline comes from offline_after_s)")
        if self.clear_below is not None and (self.above is None or self.clear_below > self.above):
            raise ValueError("clear_below goes with above and must not exceed it")
        if self.clear_above is not None and (self.below is None or self.clear_above < self.below):
            raise ValueError("clear_above goes with below and must not be under it")
        if (self.rises_by or self.falls_by) and self.within_s is None:
            raise ValueError("rises_by/falls_by need within_s")
        if self.active_hours is not None and not _HOURS.match(self.active_hours):
            raise ValueError("active_hours is 'HH:MM-HH:MM' (may wrap midnight, e.g. '22:00-06:00')")
        if self.severity is None:
            self.severity = Severity.minor if self.type == AlertType.sensor_battery_low else Severity.major
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("equals", "above", "below", "rises_by", "falls_by") if getattr(self, k) is not None)

    @property
    def rule_id(self) -> str:
        """Stable across restarts and reorderings; changes only when the rule itself changes."""
        return self.name or f"{self.type.value}/{self.field}/{self.kind}={getattr(self, self.kind)}"


class SensorConfig(_Strict):
    id: str = Field(min_length=1, max_length=128, pattern=r"^[^/+#\s]+$")
    kind: str = Field(min_length=1)               # smoke, water_level, door, gas, manhole, ...
    name: str | None = None
    grid: str | None = None
    location: Location | None = None
    source: SensorSource
    power: Literal["mains", "battery"] = "battery"
    offline_after_s: float | None = Field(None, gt=0)
    offline_debounce_s: float = Field(60.0, ge=0)  # a reported "offline" must last this long
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> "SensorConfig":
        if self.grid is None and self.location is None:
            raise ValueError("give grid or location (incidents are routed by them)")
        ids = [r.rule_id for r in self.rules]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"two rules share the id {sorted(dup)}: give them distinct names")
        return self

    @property
    def offline_s(self) -> float:
        return self.offline_after_s or DEFAULT_OFFLINE_S[self.power]


class HassConfig(_Strict):
    enabled: bool = False
    discovery_prefix: str = "homeassistant"
    cameras: list[str] = Field(default_factory=list)   # camera profile paths or globs
    camera_edge_id: str | None = None                  # the edge worker that runs them (default: ours)


class BridgeConfig(_Strict):
    edge_id: str = Field(min_length=1, max_length=128)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)   # the edge's block, incl. prefix
    spool: str = "var/sensors/spool.db"
    state: str = "var/sensors/state.db"
    client_id: str | None = None                 # subscriber session; default gridwatch-sensors-<edge_id>
    zigbee2mqtt_topic: str = "zigbee2mqtt"
    chirpstack_topic: str = "application"
    timezone: str = "UTC"
    publish_clear: bool = True
    tick_s: float = Field(1.0, gt=0)
    hass: HassConfig = Field(default_factory=HassConfig)
    hass_discovery: bool | None = None           # shorthand for hass.enabled
    sensors: list[SensorConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> "BridgeConfig":
        if self.hass_discovery is not None:
            self.hass.enabled = self.hass_discovery
        ids = [s.id for s in self.sensors]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"sensor ids must be unique, repeated: {dup}")
        for attr, label in (("zigbee2mqtt", "zigbee2mqtt name"), ("topic", "topic")):
            vals = [getattr(s.source, attr) for s in self.sensors if getattr(s.source, attr)]
            dup = sorted({v for v in vals if vals.count(v) > 1})
            if dup:
                raise ValueError(f"two sensors share the {label} {dup}")
        euis = [s.source.chirpstack.dev_eui for s in self.sensors if s.source.chirpstack]
        dup = sorted({v for v in euis if euis.count(v) > 1})
        if dup:
            raise ValueError(f"two sensors share the dev_eui {dup}")
        try:
            from zoneinfo import ZoneInfo
            ZoneInfo(self.timezone)
        except Exception:
            raise ValueError(f"unknown timezone {self.timezone!r}") from None
        return self

    @property
    def session_id(self) -> str:
        return self.client_id or f"gridwatch-sensors-{self.edge_id}"

    @property
    def prefix(self) -> str:
        return self.mqtt.prefix


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the file, field and reason."""


def config_from_dict(data: Any, where: str = "<config>") -> BridgeConfig:
    from camera_profiles.loader import ProfileError, _field, expand_env

    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the configuration is a YAML mapping, got {type(data).__name__}")
    try:
        data = expand_env(data, where)
    except ProfileError as e:
        raise ConfigError(f"{where}: " + "; ".join(f"{f}: {r}" for f, r in e.problems)) from None
    for var, keys in ENV_OVERRIDES.items():
        if os.environ.get(var):
            node = data.setdefault(keys[0], {}) if len(keys) == 2 else data
            if isinstance(node, dict):   # else validation reports the bad block
                node[keys[-1]] = os.environ[var]
    try:
        return BridgeConfig.model_validate(data)
    except ValidationError as e:
        lines = sorted({f"  {_field(err['loc'])}: {err['msg'].removeprefix('Value error, ')}" for err in e.errors()})
        raise ConfigError(f"{where}: invalid sensor bridge configuration\n" + "\n".join(lines)) from None


def load_config(path: str | os.PathLike[str]) -> BridgeConfig:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {e}") from None
    return config_from_dict(data, str(p))
