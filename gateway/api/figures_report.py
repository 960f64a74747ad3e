"""The figures and scorecards for people: CSV with headings in the reader's language (with a
BOM, so that a spreadsheet opens the Chinese right) and the printable HTML report of the figures
(A4, no scripts). The engine gives the numbers; the words are chosen here."""
from __future__ import annotations

import csv
import html
import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.i18n import N_, t
from gateway.i18n.terms import TYPES

FIGURE_HEADINGS = {
    "grid_id": N_("Grid"), "start": N_("From"), "end": N_("Until"), "incidents": N_("Incidents"),
    "cases_due": N_("Cases due"), "closed_on_time": N_("Closed on time"), "on_time_closure_rate": N_("On-time rate"),
    "ack_median_s": N_("Acknowledged, median"), "ack_p90_s": N_("Acknowledged, p90"),
    "resolve_median_s": N_("Handled, median"), "resolve_p90_s": N_("Handled, p90"), "escalated": N_("Escalated"),
    "reopened": N_("Reopened"), "reopen_rate": N_("Reopen rate"), "false_alarms": N_("False alarms"),
    "false_alarm_rate": N_("False-alarm rate"), "rated": N_("Rated"), "satisfaction_rate": N_("Reporters satisfied"),
}
WORDS = {k: k for k in (N_("All grids"), N_("Incidents by type"), N_("Type"), N_("False alarms per camera"),
                        N_("Camera"), N_("Incidents"), N_("False alarms"), N_("False-alarm rate"), N_("Grid"))}
SHOWN = ("incidents", "cases_due", "closed_on_time", "on_time_closure_rate", "ack_median_s", "ack_p90_s",
         "resolve_median_s", "resolve_p90_s", "escalated", "reopen_rate", "false_alarm_rate", "satisfaction_rate")


def translated_csv(rows: list[dict[str, Any]], fields: tuple[str, ...], headings: dict[str, str], lang: str) -> str:
    """`rows` as CSV whose first row names the columns in `lang` (the keys' order is `fields`)."""
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out, lineterminator="\n")
    w.writerow([t(lang, headings[k]) for k in fields])
    for r in rows:
        w.writerow(["" if r.get(k) is None else r.get(k) for k in fields])
    return out.getvalue()


def duration(v: float | None, lang: str) -> str:
    if v is None:
        return "-"
    m = int(round(v / 60))
    return t(lang, "{h} h {m} min", h=m // 60, m=f"{m % 60:02d}") if m >= 60 else t(lang, "{m} min", m=m)


def rate(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _cell(key: str, v: Any, lang: str) -> str:
    if key.endswith("_s"):
        return duration(v, lang)
    if key.endswith("_rate"):
        return rate(v)
    return html.escape(str(v))


def figures_html(rows: list[dict[str, Any]], *, lang: str, title: str, tz: str, names: dict[str, str]) -> str:
    """A printable report of `by_grid` rows: grids by name, times in `tz`, words in `lang`."""
    e = html.escape
    zone = ZoneInfo(tz)
    span = ""
    if rows:
        s = datetime.fromisoformat(rows[0]["start"]).astimezone(zone)
        u = datetime.fromisoformat(rows[0]["end"]).astimezone(zone)
        span = f"{s:%Y-%m-%d %H:%M} – {u:%Y-%m-%d %H:%M} ({tz})"
    head = "".join(f"<th>{e(t(lang, FIGURE_HEADINGS[k]))}</th>" for k in SHOWN)
    body = []
    for r in rows:
        gid = r["grid_id"]
        name = e(t(lang, "All grids") if gid is None else f"{names[gid]} ({gid})" if gid in names else gid)
        cells = "".join(f"<td>{_cell(k, r[k], lang)}</td>" for k in SHOWN)
        body.append(f"<tr{' class=total' if gid is None else ''}><th>{name}</th>{cells}</tr>")
    total = rows[-1] if rows and rows[-1]["grid_id"] is None else None
    w = {k: e(t(lang, k)) for k in WORDS}
    extra = ""
    if total:
        types = "".join(f"<tr><th>{e(t(lang, TYPES[k]) if k in TYPES else str(k))}</th><td>{v}</td></tr>"
                        for k, v in sorted(total["by_type"].items()))
        cams = "".join(f"<tr><th>{e(k)}</th><td>{c['incidents']}</td><td>{c['false_alarms']}</td>"
                       f"<td>{rate(c['rate'])}</td></tr>" for k, c in sorted(total["cameras"].items()))
        extra = (f"<h2>{w['Incidents by type']}</h2><table><tr><th>{w['Type']}</th><th>{w['Incidents']}</th></tr>"
                 f"{types}</table><h2>{w['False alarms per camera']}</h2><table><tr><th>{w['Camera']}</th>"
                 f"<th>{w['Incidents']}</th><th>{w['False alarms']}</th><th>{w['False-alarm rate']}</th></tr>{cams}</table>")
    return f"""<!doctype html>
<html lang="{e(lang)}"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>
 @page {{ size: A4 landscape; margin: 12mm; }}
 body {{ font: 10pt/1.35 system-ui, 'Noto Sans CJK SC', sans-serif; color: #111; }}
 table {{ border-collapse: collapse; margin: 0 0 6mm; }}
 th, td {{ border: 1px solid #999; padding: 2px 6px; text-align: right; }}
 th {{ text-align: left; }} tr.total {{ font-weight: bold; background: #eee; }}
 h1 {{ font-size: 14pt; margin: 0; }} h2 {{ font-size: 11pt; }} .period {{ color: #444; }}
</style></head><body>
<h1>{e(title)}</h1><p class="period">{e(span)}</p>
<table><tr><th>{w['Grid']}</th>{head}</tr>
{''.join(body)}
</table>
{extra}
</body></html>
"""
