"""What people can report (a patrol report's category, an Open311 `service_code`), declared in
the routing rules file beside the rules that route them:

    categories:
      - code: garbage
        name: {zh-CN: 垃圾堆积, en: Garbage piled up}   # or one text, translated by the catalogue
        group: sanitation
        severity: minor          # the incident's severity (default minor)
    rules:
      - {name: garbage-to-sanitation, type: report.garbage, professional: sanitation}

A report of category `garbage` is an incident of type `report.garbage`, which the rules match
like any alert type. A file without `categories` keeps the built-in list (gateway.incidents.
categories); a file with them replaces it, so a street office offers exactly its own list."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

TYPE_PREFIX = "report."
CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
SEVERITIES = ("info", "minor", "major", "critical")


class CategoryError(ValueError):
    pass


@dataclass(frozen=True)
class Category:
    code: str
    name: str | tuple[tuple[str, str], ...]  # one source text (translated where shown), or (lang, text) pairs
    group: str = "other"
    severity: str = "minor"

    @property
    def alert_type(self) -> str:
        return TYPE_PREFIX + self.code

    def name_in(self, lang: str) -> str | None:
        """The name given for `lang` (or its language without region), None when the file gave one text."""
        if isinstance(self.name, str):
            return None
        names = dict(self.name)
        return names.get(lang) or names.get(lang.split("-")[0]) or next(iter(names.values()))


def parse(data: Any) -> tuple[Category, ...]:
    """The `categories` section of a routing rules file; CategoryError names the entry and field."""
    if not isinstance(data, list):
        raise CategoryError("categories: must be a list of {code, name, group, severity}")
    out: list[Category] = []
    for n, d in enumerate(data):
        where = f"categories[{n}]"
        if not isinstance(d, dict):
            raise CategoryError(f"{where}: must be a mapping with code and name")
        unknown = set(d) - {"code", "name", "group", "severity"}
        if unknown:
            raise CategoryError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        code = str(d.get("code") or "")
        if not CODE.match(code):
            raise CategoryError(f"{where}.code: {code!r} must be 1-40 of a-z, 0-9, '_' or '-'")
        where = f"category {code!r}"
        if any(c.code == code for c in out):
            raise CategoryError(f"{where}: listed twice")
        out.append(Category(code=code, name=_name(d.get("name"), where), group=str(d.get("group") or "other"),
                            severity=_severity(d.get("severity", "minor"), where)))
    return tuple(out)


def _name(v: Any, where: str) -> str | tuple[tuple[str, str], ...]:
    if isinstance(v, str) and v.strip():
        return v.strip()
    if isinstance(v, dict) and v and all(isinstance(k, str) and isinstance(t, str) and t.strip() for k, t in v.items()):
        return tuple((k, t.strip()) for k, t in v.items())
    raise CategoryError(f"{where}.name: must be a text or a mapping of language to text, e.g. {{zh-CN: 垃圾堆积}}")


def _severity(v: Any, where: str) -> str:
    if v not in SEVERITIES:
        raise CategoryError(f"{where}.severity: {v!r} is not one of {', '.join(SEVERITIES)}")
    return str(v)
