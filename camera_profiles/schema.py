"""The camera profile schema. Coordinates are normalised to the frame (0..1, origin top-left)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from shapely.geometry import LineString, Polygon

from alerts.schema import Location, Severity

Point = Annotated[list[float], Field(min_length=2, max_length=2)]


def _check_points(points: list[list[float]]) -> list[list[float]]:
    for x, y in points:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"point [{x}, {y}] is outside the frame: coordinates are normalised to 0..1")
    return points


def _check_polygon(points: list[list[float]]) -> list[list[float]]:
    _check_points(points)
    poly = Polygon(points)
    if not poly.is_valid or poly.area <= 0:
        from shapely.validation import explain_validity

        raise ValueError(f"polygon is not valid: {explain_validity(poly)}")
    return points


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OnvifSource(_Strict):
    host: str
    port: int = Field(80, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    # "main" | "sub" | a profile token | "WIDTHxHEIGHT"; unset: detection takes the sub stream
    # (smallest profile at least 320 px wide), the main one on a camera that has only one
    profile: str | None = None
    record_profile: str | None = Field(None, description="the clip stream's profile; unset: main")
    events: bool = True  # subscribe to the camera's own events (PullPoint)


class OnvifRef(_Strict):
    onvif: OnvifSource


class DetectSettings(_Strict):
    fps: float = Field(5.0, gt=0, le=60)
    width: int = Field(640, ge=64, le=3840)
    warmup_s: float = Field(2.0, ge=0, description="frames after (re)connect that only train the background")


class IntrusionRule(_Strict):
    min_seconds: float = Field(1.0, ge=0)
    severity: Severity = Severity.major
    cooldown_s: float = Field(30.0, ge=0)


class LoiteringRule(_Strict):
    seconds: float = Field(20.0, gt=0)
    severity: Severity = Severity.minor
    cooldown_s: float = Field(120.0, ge=0)


ObjectKind = Literal["person", "vehicle", "animal"]
OBJECTS_HELP = ("raise only for these kinds of object (a classifier looks at the object when the rule is about "
                "to fire); none: any moving object")


class Zone(_Strict):
    name: str = Field(min_length=1)
    polygon: list[Point] = Field(min_length=3)
    intrusion: IntrusionRule | None = None
    loitering: LoiteringRule | None = None
    min_area: float = Field(0.0005, ge=0, le=1, description="smallest object, as a fraction of the frame")
    objects: list[ObjectKind] | None = Field(None, min_length=1, description=OBJECTS_HELP)

    _poly = field_validator("polygon")(_check_polygon)


class Line(_Strict):
    name: str = Field(min_length=1)
    points: list[Point] = Field(min_length=2, max_length=2)
    from_side: Point | None = None
    severity: Severity = Severity.minor
    cooldown_s: float = Field(2.0, ge=0)
    objects: list[ObjectKind] | None = Field(None, min_length=1, description=OBJECTS_HELP)

    _pts = field_validator("points")(_check_points)

    @model_validator(mode="after")
    def _side_off_line(self) -> "Line":
        if LineString(self.points).length <= 0:
            raise ValueError("points: the two ends of a line must differ")
        if self.from_side is not None and LineString(self.points).distance(
            __import__("shapely.geometry", fromlist=["Point"]).Point(self.from_side)
        ) < 1e-6:
            raise ValueError("from_side: the point lies on the line, so it names no side")
        return self


class FallingObject(_Strict):
    region: list[Point] = Field(min_length=3)
    severity: Severity = Severity.critical
    cooldown_s: float = Field(10.0, ge=0)

    _poly = field_validator("region")(_check_polygon)


class Tamper(_Strict):
    covered: bool = True
    defocus: bool = True
    moved: bool = True
    min_seconds: float = Field(3.0, ge=0)
    severity: Severity = Severity.major


class Clips(_Strict):
    enabled: bool = True
    pre_s: float = Field(5.0, ge=0, le=60)
    post_s: float = Field(10.0, ge=0, le=120)


class CameraProfile(_Strict):
    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$")
    name: str | None = None
    grid: str | None = None
    location: Location | None = None
    source: str | OnvifRef  # the detect stream
    record_source: str | OnvifRef | None = Field(None, description="the clip stream (main); unset: source")
    enabled: bool = True
    detect: DetectSettings = Field(default_factory=DetectSettings)
    privacy_masks: list[list[Point]] = Field(default_factory=list)
    motion_masks: list[list[Point]] = Field(default_factory=list)
    zones: list[Zone] = Field(default_factory=list)
    lines: list[Line] = Field(default_factory=list)
    falling_object: FallingObject | None = None
    tamper: Tamper | None = None
    clips: Clips = Field(default_factory=Clips)
    loop: bool = Field(False, description="replay a file source forever, at real speed (demo cameras)")

    def identity(self) -> dict:
        """The camera's name, grid and location as its status publishes them (the unset left out)."""
        out = {"name": self.name, "grid": self.grid, "location": self.location.model_dump() if self.location else None}
        return {k: v for k, v in out.items() if v}

    @field_validator("privacy_masks", "motion_masks")
    @classmethod
    def _masks(cls, v: list[list[list[float]]]) -> list[list[list[float]]]:
        for poly in v:
            if len(poly) < 3:
                raise ValueError("a mask polygon needs at least 3 points")
            _check_polygon(poly)
        return v

    @model_validator(mode="after")
    def _unique_names(self) -> "CameraProfile":
        for kind, items in (("zones", self.zones), ("lines", self.lines)):
            names = [i.name for i in items]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{kind}: names must be unique, repeated: {', '.join(dupes)}")
        return self

    @model_validator(mode="after")
    def _record_stream(self) -> "CameraProfile":
        rec = self.record_source
        if isinstance(rec, str) and not rec.strip():
            raise ValueError("record_source: empty; leave it out to record the detect stream")
        if rec is not None and rec == self.source:
            raise ValueError("record_source: the same stream as source; leave it out")
        if rec is not None and self.onvif is not None and self.onvif.record_profile is not None:
            raise ValueError("record_source and source.onvif.record_profile both name the clip stream: keep one")
        if isinstance(rec, OnvifRef) and rec.onvif.record_profile is not None:
            raise ValueError("record_source.onvif.record_profile: means nothing here; use record_source.onvif.profile")
        return self

    @property
    def record_stream(self) -> str | OnvifRef | None:
        """Where clips come from when not from the detect stream: record_source, or for an ONVIF
        camera the same device's record_profile (main by default)."""
        if self.record_source is not None:
            if isinstance(self.record_source, OnvifRef) and self.record_source.onvif.profile is None:
                return OnvifRef(onvif=self.record_source.onvif.model_copy(update={"profile": "main"}))
            return self.record_source
        if self.onvif is not None:
            wanted = self.onvif.record_profile or "main"
            return OnvifRef(onvif=self.onvif.model_copy(update={"profile": wanted, "record_profile": None,
                                                                "events": False}))
        return None

    @property
    def onvif(self) -> OnvifSource | None:
        return self.source.onvif if isinstance(self.source, OnvifRef) else None
