"""Load camera profiles from YAML, expanding ${ENV} references, with errors that name
the file, the field and the reason."""
from __future__ import annotations

import glob
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from camera_profiles.schema import CameraProfile

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ProfileError(ValueError):
    """A profile that cannot be used; `problems` lists (field, reason) pairs."""

    def __init__(self, where: str, problems: list[tuple[str, str]]):
        self.where = where
        self.problems = problems
        lines = "\n".join(f"  {field}: {reason}" for field, reason in problems)
        super().__init__(f"{where}: invalid camera profile\n{lines}")


def expand_env(value: Any, where: str = "<profile>", path: str = "") -> Any:
    """Replace ${NAME} (or ${NAME:-default}) in every string; an unset name is an error."""
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise ProfileError(where, [(path or "<root>", f"environment variable {name} is not set")])

        return _ENV.sub(sub, value)
    if isinstance(value, dict):
        return {k: expand_env(v, where, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, where, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif (part in ("str", "OnvifRef", "function-after[_poly(), list[list[float]]]")
              or str(part).startswith(("function-", "constrained-"))):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"


def profile_from_dict(data: Any, where: str = "<profile>") -> CameraProfile:
    if not isinstance(data, dict):
        raise ProfileError(where, [("<root>", f"a profile is a YAML mapping, got {type(data).__name__}")])
    data = expand_env(data, where)
    try:
        return CameraProfile.model_validate(data)
    except ValidationError as e:
        problems = []
        seen = set()
        for err in e.errors():
            field = _field(err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if (field, msg) not in seen:
                seen.add((field, msg))
                problems.append((field, msg))
        raise ProfileError(where, problems) from None


def load_profile(path: str | os.PathLike[str], *, source: str | None = None) -> CameraProfile:
    """A profile file, validated; `source` (e.g. `edge analyze --source`) stands in for the file's own."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ProfileError(str(p), [("<file>", e.strerror or str(e))]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "<file>"
        raise ProfileError(str(p), [(at, f"not valid YAML: {getattr(e, 'problem', e)}")]) from None
    if source is not None and isinstance(data, dict):
        data = {**data, "source": source}
    return profile_from_dict(data, str(p))


def load_profiles(entries: list[Any], base: Path | None = None) -> list[CameraProfile]:
    """Profiles from a list of paths, globs (relative to `base`) or inline mappings."""
    out: list[CameraProfile] = []
    for i, entry in enumerate(entries):
        if isinstance(entry, dict):
            out.append(profile_from_dict(entry, f"cameras[{i}]"))
            continue
        pattern = str(entry) if base is None or os.path.isabs(str(entry)) else str(base / str(entry))
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise ProfileError(f"cameras[{i}]", [("<path>", f"no profile file matches {entry!r}")])
        out.extend(load_profile(m) for m in matches)
    ids = [p.id for p in out]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ProfileError("cameras", [("id", f"camera ids must be unique, repeated: {', '.join(dupes)}")])
    return out
