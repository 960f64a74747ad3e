"""The report categories in force: the routing rules file's `categories` (gateway.engine.
categories), else the built-in list below, and their names in a reader's language."""
from __future__ import annotations

from gateway.engine.categories import Category
from gateway.engine.routing import RoutingRules
from gateway.i18n import N_, t

BUILT_IN = tuple(Category(code, name, group) for code, name, group in (  # English source texts, via the catalogue
    ("garbage", N_("Garbage piled up"), N_("sanitation")),
    ("road", N_("Damaged road or pavement"), N_("streets")),
    ("streetlight", N_("Street light out"), N_("streets")),
    ("drainage", N_("Blocked drain or standing water"), N_("water")),
    ("manhole", N_("Missing or broken manhole cover"), N_("streets")),
    ("parking", N_("Vehicle blocking a passage"), N_("order")),
    ("graffiti", N_("Graffiti or illegal posters"), N_("order")),
    ("noise", N_("Noise nuisance"), N_("order")),
    ("hazard", N_("Safety hazard"), N_("safety")),
    ("other", N_("Other problem"), N_("other")),
))


def in_force(rules: RoutingRules) -> dict[str, Category]:
    return {c.code: c for c in (rules.categories or BUILT_IN)}


def name(category: Category, lang: str) -> str:
    given = category.name_in(lang)
    return given if given is not None else t(lang, str(category.name))


def group(category: Category, lang: str) -> str:
    return t(lang, category.group)


def describe(rules: RoutingRules, lang: str) -> list[dict[str, str]]:
    """Each category as {code, name, group} in `lang`, in the file's order."""
    return [{"code": c.code, "name": name(c, lang), "group": group(c, lang)} for c in in_force(rules).values()]
