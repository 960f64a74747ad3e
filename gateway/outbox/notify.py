"""Which incident events tell whom, in what words, and when: pure, no I/O.

The outbox relay calls `notes_for` for every incident event it has published over MQTT: each
configured channel that wants the event (its `grids` match the incident's grid, or its
`people` hold the assignee) gets one outbox row `notify:<channel>` with the note already
written, so a retry sends the same words and a restart loses nothing. A channel's quiet hours
hold back all but critical cases until they end; its `per_minute` cap is kept by `RateWindow`,
and what does not fit goes out as one `digest` when the window has room again.
"""
from __future__ import annotations

from collections import deque
from datetime import datetime, time, timedelta
from fnmatch import fnmatchcase
from typing import Any
from zoneinfo import ZoneInfo

from gateway.i18n import t, when
from gateway.i18n.terms import EVENTS, TYPES
from gateway.outbox.channels import Note

NOTIFY_PREFIX = "notify:"  # outbox rows for notifications: topic = "notify:<channel>"
NOTIFY_EVENTS = ("dispatched", "escalated", "reopened", "deadline_near")
CHAIN_EVENTS = ("dispatched", "escalated", "reopened")  # start the grid's notify_chain (gateway.engine.chain)

def wants(channel: Any, incident: dict[str, Any]) -> bool:
    grid = incident.get("grid_id") or ""
    return any(fnmatchcase(grid, g) for g in channel.grids) or (incident.get("assignee") in channel.people)


def note_for(event: str, incident: dict[str, Any], language: str, *, tz: ZoneInfo,
             public_url: str | None = None, phone: str | None = None, names: dict[str, str] | None = None) -> Note:
    """The note of one event: what, where, until when, for whom, and the link to the incident.
    `names` gives the grid's and the assignee's names for their ids (names, not ids, for people)."""
    names = names or {}
    kind = incident.get("type") or ""
    what = t(language, TYPES[kind]) if kind in TYPES else (incident.get("title") or kind)
    title = f"[{t(language, EVENTS[event])}] {what} #{incident['id']}"
    grid = incident.get("grid_id") or ""
    lines = [t(language, "Grid: {grid}", grid=f"{names[grid]} ({grid})" if grid in names else grid or "-")]
    if incident.get("due_at"):
        due = datetime.fromisoformat(str(incident["due_at"]).replace("Z", "+00:00"))
        lines.append(t(language, "Due: {due}", due=when(due, language, tz)))
    if incident.get("assignee"):
        lines.append(t(language, "Assignee: {name}", name=names.get(incident["assignee"], incident["assignee"])))
    link = f"{public_url.rstrip('/')}/console/incidents/{incident['id']}" if public_url else None
    return Note(title=title, text="\n".join(lines), link=link, phones=[phone] if phone else [], language=language)


def quiet_until(channel: Any, now: datetime, severity: str | None, tz: ZoneInfo) -> datetime | None:
    """When a note may go if `now` is in the channel's quiet hours (critical cases go at once)."""
    if not channel.quiet_hours or severity == "critical":
        return None
    start, end = (time.fromisoformat(p) for p in channel.quiet_hours.split("-"))
    local = now.astimezone(tz)
    t = local.time()
    inside = start <= t < end if start <= end else (t >= start or t < end)
    if not inside:
        return None
    ends = datetime.combine(local.date(), end, tz)
    if ends <= local:
        ends += timedelta(days=1)
    return ends


def digest(notes: list[Note]) -> Note:
    """Many notes as one message (the platforms cap bots at about 20 messages a minute), in the
    language of the first."""
    language = notes[0].language
    shown = notes[:10]
    text = "\n".join(f"- {n.title}" + (f" {n.link}" if n.link else "") for n in shown)
    if len(notes) > len(shown):
        text += "\n" + t(language, "and {n} more", n=len(notes) - len(shown))
    phones = list(dict.fromkeys(p for n in notes for p in n.phones))
    return Note(title=t(language, "{n} new notifications", n=len(notes)), text=text, phones=phones, language=language)


class RateWindow:
    """At most `per_minute` messages in any 60 s (times are the relay's clock, in seconds)."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self.sent: deque[float] = deque()

    def room(self, now_s: float) -> int:
        while self.sent and self.sent[0] <= now_s - 60.0:
            self.sent.popleft()
        return self.per_minute - len(self.sent)

    def take(self, now_s: float) -> None:
        self.sent.append(now_s)

    def free_at(self) -> float:
        """When the oldest message leaves the window (only called when there is no room)."""
        return self.sent[0] + 60.0
