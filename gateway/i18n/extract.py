"""Every text the gateway's code shows: from the Python (`t(lang, "...")`, `N_("...")`), the
console's JavaScript (`t("...")`, `N_("...")`) and its HTML (`data-i18n` elements, titles).
`python -m gateway.i18n.extract` adds the missing ones to each catalogue (empty, to translate)
and lists those no longer used."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from gateway.i18n import KEYWORDS, LANGUAGES, po_path

GATEWAY = Path(__file__).resolve().parents[1]
JS_KEYWORDS = {"t": None, "N_": None}
_HTML_TEXT = re.compile(r"<[a-z0-9]+[^>]*\sdata-i18n(?:=\"([^\"]*)\")?[^>]*>([^<]*)<")
_TITLE = re.compile(r"<title>(.*?)</title>")
# Babel's JavaScript lexer does not look inside template literals (`${t("...")}`): this does
_JS_CALL = re.compile(r"\b(?:t|N_)\(\s*\"((?:[^\"\\]|\\.)*)\"")


def used_texts() -> set[str]:
    found: set[str] = set()
    for method, pattern, keywords in (("python", "**.py", KEYWORDS), ("javascript", "**.js", JS_KEYWORDS)):
        for _, _, msg, _, _ in extract_from_dir(str(GATEWAY), method_map=[(pattern, method)], keywords=keywords,
                                                comment_tags=()):
            found.add(msg if isinstance(msg, str) else msg[0])
    for script in (GATEWAY / "console" / "static" / "js").glob("*.js"):
        if script.name != "i18n.js":  # where t itself is defined
            found |= {json.loads(f'"{m}"') for m in _JS_CALL.findall(script.read_text())}
    for page in (GATEWAY / "console" / "static").glob("*.html"):
        html = page.read_text()
        found |= {(key or text).strip() for key, text in _HTML_TEXT.findall(html) if (key or text).strip()}
        found |= {part for title in _TITLE.findall(html) for part in title.split(" · ") if part != "gridwatch"}
    return found


def update() -> None:
    used = used_texts()
    for lang in LANGUAGES:
        if lang == "en":
            continue
        with po_path(lang).open("rb") as f:
            cat: Catalog = read_po(f)
        for text in sorted(used - {str(m.id) for m in cat if m.id}):
            cat.add(text, "")
            print(f"{po_path(lang).name}: to translate: {text!r}")
        for m in cat:
            if m.id and str(m.id) not in used:
                print(f"{po_path(lang).name}: no longer used: {str(m.id)!r}")
        with po_path(lang).open("wb") as f:
            write_po(f, cat, width=100, sort_output=True)


if __name__ == "__main__":
    update()
    sys.exit(0)
