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

from gateway.outbox.channels import Note

NOTIFY_PREFIX = "notify:"  # outbox rows for notifications: topic = "notify:<channel>"
NOTIFY_EVENTS = ("dispatched", "escalated", "reopened")

# The terms of grid management (the catalogue of issue 18 takes these over).
WORDS = {
    "zh-CN": {"dispatched": "新派遣", "escalated": "已上报升级", "reopened": "退回重办", "grid": "网格",
              "due": "处置时限", "assignee": "责任人", "digest": "条新通知", "more": "另有"},
    "en": {"dispatched": "Dispatched", "escalated": "Escalated", "reopened": "Reopened", "grid": "Grid",
           "due": "Due", "assignee": "Assignee", "digest": "new notifications", "more": "and"},
}
TYPES = {"zh-CN": {"intrusion": "区域入侵", "line_crossing": "越线", "loitering": "徘徊", "falling_object": "高空抛物",
                   "tamper.covered": "遮挡", "tamper.defocus": "失焦", "tamper.moved": "移位",
                   "stream.lost": "视频丢失", "motion": "移动侦测", "camera_event": "摄像机事件",
                   "sensor.alarm": "传感器报警", "sensor.threshold": "传感器超限", "sensor.offline": "传感器离线",
                   "sensor.battery_low": "传感器电量低"}}


def wants(channel: Any, incident: dict[str, Any]) -> bool:
    grid = incident.get("grid_id") or ""
    return any(fnmatchcase(grid, g) for g in channel.grids) or (incident.get("assignee") in channel.people)


def note_for(event: str, incident: dict[str, Any], language: str, *, tz: ZoneInfo,
             public_url: str | None = None, phones: dict[str, str] | None = None) -> Note:
    """The note of one event: what, where, until when, for whom, and the link to the incident."""
    w = WORDS[language]
    kind = TYPES.get(language, {}).get(incident.get("type") or "", incident.get("title") or incident.get("type") or "")
    title = f"[{w[event]}] {kind} #{incident['id']}"
    lines = [f"{w['grid']}: {incident.get('grid_id') or '-'}"]
    if incident.get("due_at"):
        due = datetime.fromisoformat(str(incident["due_at"]).replace("Z", "+00:00")).astimezone(tz)
        lines.append(f"{w['due']}: {due:%Y-%m-%d %H:%M}")
    if incident.get("assignee"):
        lines.append(f"{w['assignee']}: {incident['assignee']}")
    link = f"{public_url.rstrip('/')}/console/incidents/{incident['id']}" if public_url else None
    phone = (phones or {}).get(incident.get("assignee") or "")
    return Note(title=title, text="\n".join(lines), link=link, phones=[phone] if phone else [])


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


def digest(notes: list[Note], language: str) -> Note:
    """Many notes as one message (the platforms cap bots at about 20 messages a minute)."""
    w = WORDS[language]
    shown = notes[:10]
    text = "\n".join(f"- {n.title}" + (f" {n.link}" if n.link else "") for n in shown)
    if len(notes) > len(shown):
        text += f"\n{w['more']} {len(notes) - len(shown)}"
    phones = list(dict.fromkeys(p for n in notes for p in n.phones))
    return Note(title=f"{len(notes)} {w['digest']}", text=text, phones=phones)


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
