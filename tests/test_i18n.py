"""The catalogues against the code: every text the code uses is translated in every catalogue,
no catalogue keeps a text the code no longer uses, and the language is chosen as users expect."""
from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.i18n import HERE, LANGUAGES, catalogue, negotiate, po_path, t, when
from gateway.i18n.extract import used_texts

pytestmark = pytest.mark.quick


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_every_text_the_code_uses_is_translated_and_none_is_left_over(lang):
    used, have = used_texts(), catalogue(lang)
    assert used, "the extractor found the code's texts"
    assert sorted(used - set(have)) == [], f"missing from {po_path(lang).name}"
    assert sorted(set(have) - used) == [], f"no longer used, still in {po_path(lang).name}"
    for msgid, text in have.items():  # the {fields} survive translation
        assert sorted(re.findall(r"\{\w+\}", msgid)) == sorted(re.findall(r"\{\w+\}", text)), msgid


def test_every_catalogue_is_a_po_file_next_to_the_code():
    assert sorted(p.name for p in HERE.glob("*.po")) == sorted(po_path(lang).name for lang in LANGUAGES if lang != "en")


def test_texts_fill_their_fields_and_english_is_its_own_translation():
    assert t("zh-CN", "Grid: {grid}", grid="G-03-07") == "网格: G-03-07"
    assert t("en", "Grid: {grid}", grid="G-03-07") == "Grid: G-03-07"
    assert t("zh-CN", "Zone intrusion") == "区域入侵" and t("fr", "Zone intrusion") == "区域入侵"  # unknown: the default


def test_the_language_follows_the_user_then_the_browser_then_the_default():
    assert negotiate("en", accept_language="zh-CN,zh;q=0.9") == "en"
    assert negotiate(None, accept_language="fr-FR,en-GB;q=0.8,zh;q=0.5") == "en"
    assert negotiate(accept_language="zh-TW;q=0.9,ja;q=1.0") == "zh-CN"
    assert negotiate(accept_language="zh-Hans-CN") == "zh-CN"
    assert negotiate(accept_language="de, *;q=0.1", default="en") == "en"
    assert negotiate(accept_language="garbage;q=x") == "zh-CN"


def test_dates_are_written_in_the_users_zone_and_manner():
    dt = datetime(2026, 12, 6, 16, 30, tzinfo=UTC)
    assert when(dt, "zh-CN", ZoneInfo("Asia/Shanghai")) == "2026-12-07 00:30"
    assert when(dt, "en", ZoneInfo("Asia/Shanghai")) == "7 Dec 2026 00:30"
