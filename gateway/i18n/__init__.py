"""Translations: one gettext catalogue per language (`gateway/i18n/<lang>.po`, the format
translators' tools read), loaded with Babel; the browser gets the same catalogue as JSON.

Messages are English source text (`t(lang, "Dispatched")`); Simplified Chinese is the first
language of every screen and message, English the second (an English text is its own
translation). `N_` marks a text for the catalogue where it is only translated later (the
names of alert types, states, levels). tests/test_i18n.py checks that every text the code
uses is in every catalogue and that no catalogue holds one the code does not use.
"""
from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.core import negotiate_locale
from babel.dates import format_datetime
from babel.messages.pofile import read_po

LANGUAGES = ("zh-CN", "en")
DEFAULT = "zh-CN"
HERE = Path(__file__).parent
KEYWORDS = {"t": (2,), "N_": None}  # for Babel's extractor: the message is t's second argument


def N_(text: str) -> str:
    """Marks `text` for the catalogue; translated where it is shown."""
    return text


def po_path(lang: str) -> Path:
    return HERE / f"{lang.replace('-', '_')}.po"


@cache
def catalogue(lang: str) -> dict[str, str]:
    """msgid -> translation (English: the ids themselves)."""
    if lang == "en":
        return {}
    with po_path(lang).open("rb") as f:
        cat = read_po(f)
    return {str(m.id): str(m.string) for m in cat if m.id and m.string}


def t(lang: str, text: str, **values: Any) -> str:
    """`text` in `lang`, with `{name}` fields filled from `values`."""
    out = catalogue(lang if lang in LANGUAGES else DEFAULT).get(text, text)
    return out.format(**values) if values else out


def negotiate(*preferred: str | None, accept_language: str | None = None, default: str = DEFAULT) -> str:
    """The first supported language of: the explicit choices (a user's setting), then the
    browser's Accept-Language (in its order of quality), then `default`."""
    wanted = [p for p in preferred if p]
    if accept_language:
        ranked = []
        for part in accept_language.split(","):
            tag, _, q = part.strip().partition(";q=")
            try:
                ranked.append((float(q) if q else 1.0, tag.strip()))
            except ValueError:
                continue
        wanted += [tag for _, tag in sorted(ranked, key=lambda r: -r[0]) if tag and tag != "*"]
    found = negotiate_locale([w.replace("_", "-") for w in wanted], list(LANGUAGES), sep="-")
    if found:
        return found
    for w in wanted:  # "zh", "zh-Hans", "zh-TW"... -> zh-CN; "en-GB" -> en
        base = w.split("-")[0].lower()
        for lang in LANGUAGES:
            if lang.split("-")[0].lower() == base:
                return lang
    return default if default in LANGUAGES else DEFAULT


def when(dt: datetime, lang: str, tz: ZoneInfo) -> str:
    """A date and time as people of `lang` write it, in the time zone `tz`."""
    return format_datetime(dt.astimezone(tz), "yyyy-MM-dd HH:mm" if lang == "zh-CN" else "d MMM yyyy HH:mm",
                           locale=lang.replace("-", "_"))
