"""Notifications through the outbox: the relay's side of gateway.outbox.notify.

`Notifier.enqueue` runs in the transaction that marks an incident event published and adds a
`notify:<channel>` row per channel that wants it (the note written out, so the row alone says
what goes out); `Notifier.send` delivers claimed rows, each channel on its own thread (a slow
or failing platform holds back no other), within its rate: what does not fit this minute goes
as one digest, or waits for room without counting as a failed attempt.
"""
from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from alerts import topics
from gateway.db.models import Incident, OutboxMessage, Person, User
from gateway.incidents.grids import GridCache
from gateway.media.service import incident_media_rows
from gateway.media.storage import MediaStore
from gateway.outbox.channels import ChannelError, EmailChannel, Note, Sender, SmsChannel, WeComChannel, parse_channels
from gateway.outbox.notify import CHAIN_EVENTS, NOTIFY_EVENTS, NOTIFY_PREFIX, RateWindow, digest, note_for, quiet_until, wants

log = logging.getLogger(__name__)
IMAGE_CHANNELS = (WeComChannel, EmailChannel)  # the channels that carry the masked snapshot itself


class Notifier:
    def __init__(self, channels: list[Any], *, prefix: str = "gridwatch", timezone: str = "Asia/Shanghai",
                 public_url: str | None = None, language: str = "zh-CN", media_dir: str | Path | None = None):
        self.channels = {c.name: c for c in channels}
        self.language = language  # for channels and people that name none
        self.media = MediaStore(media_dir) if media_dir else None  # the masked snapshots the bots show
        self.prefix = prefix
        self.tz = ZoneInfo(timezone)
        self.public_url = public_url
        self.windows = {c.name: RateWindow(c.per_minute) for c in channels}
        self._sender = Sender()
        # (incident, time) of the last events noted: an escalation is "escalated" + "dispatched" to
        # the new assignee at one instant, and people get one message for it
        self._noted: OrderedDict[tuple[int, str], None] = OrderedDict()
        self._grids = GridCache()  # read with the relay's session: the chains and the people
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(8, len(channels))), thread_name_prefix="notify")

    @classmethod
    def from_settings(cls, settings: Any) -> "Notifier":
        return cls(parse_channels(settings.notifications), prefix=settings.mqtt_prefix, timezone=settings.timezone,
                   public_url=settings.public_url, language=settings.language, media_dir=settings.media_dir)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._sender.close()

    # -- enqueue (in the relay's transaction) -----------------------------------------------------
    def enqueue(self, s: Session, row: Any, now: datetime) -> int:
        """The notification rows of one published MQTT row; returns how many."""
        if not self.channels or not row.topic.startswith(f"{self.prefix}/incidents/"):
            return 0
        payload = json.loads(row.body)
        incident = payload.get("incident") or {}
        if payload.get("event") not in NOTIFY_EVENTS or not incident.get("id"):
            return 0
        if row.topic != topics.incident(incident.get("grid_id") or "unrouted", self.prefix):
            return 0  # also published to a professional grid's topic: one note per event
        key = (int(incident["id"]), str(payload.get("at")))
        if key in self._noted:
            return 0
        self._noted[key] = None
        while len(self._noted) > 10_000:
            self._noted.popitem(last=False)
        plan = self._plan(s, payload["event"], incident, now)
        users = {user for c, _, user, _ in plan if user and isinstance(c, SmsChannel)}
        phones = dict(s.execute(select(Person.username, Person.phone).where(
            Person.username.in_(users), Person.phone.is_not(None))).all()) if users else {}
        people = {u for _, _, u, _ in plan if u} | ({incident["assignee"]} if incident.get("assignee") else set())
        languages, names = self._people(s, people)
        grid = self._grids.get(s).get(incident.get("grid_id"))
        if grid is not None:
            names[grid.id] = grid.name
        for c, when, user, until_ack in plan:
            language = c.language or languages.get(user or "") or self.language
            note = note_for("unacknowledged" if until_ack else payload["event"], incident, language, tz=self.tz,
                            public_url=self.public_url, phone=phones.get(user or ""), names=names)
            at = quiet_until(c, when, incident.get("severity"), self.tz) or when
            s.add(OutboxMessage(topic=NOTIFY_PREFIX + c.name, created_at=now, attempts=0, next_attempt_at=at,
                                payload={"note": note.model_dump(), "event": payload["event"], "user": user,
                                         "incident_id": incident["id"], "outbox_id": row.id, "until_ack": until_ack}))
        return len(plan)

    @staticmethod
    def _people(s: Session, usernames: set[str]) -> tuple[dict[str, str], dict[str, str]]:
        """Each person's chosen language and name (their user's, else the grids' people's)."""
        if not usernames:
            return {}, {}
        names = dict(s.execute(select(Person.username, Person.display_name).where(Person.username.in_(usernames))).all())
        languages = {}
        for user, name, language in s.execute(select(User.username, User.display_name, User.language)
                                              .where(User.username.in_(usernames))):
            names[user] = name or names.get(user) or user
            if language:
                languages[user] = language
        return languages, names

    def snapshots(self, s: Session, rows: list[Any]) -> dict[int, Path]:
        """The newest masked snapshot of each row's incident, for the channels that can show one."""
        if self.media is None or not rows:
            return {}
        wanted = {r.id: json.loads(r.body).get("incident_id") for r in rows
                  if isinstance(self.channels.get(r.topic[len(NOTIFY_PREFIX):]), IMAGE_CHANNELS)}
        newest: dict[int, Path] = {}
        for incident_id in set(wanted.values()) - {None}:
            inc = s.get(Incident, incident_id)
            shots = [row for item, row in incident_media_rows(s, inc) if row is not None and row.kind == "snapshot"
                     and row.deleted_at is None] if inc is not None else []
            if shots:
                newest[incident_id] = self.media.file(max(shots, key=lambda r: r.created_at).path)
        return {rid: newest[iid] for rid, iid in wanted.items() if iid in newest}

    def _plan(self, s: Session, event: str, incident: dict[str, Any],
              now: datetime) -> list[tuple[Any, datetime, str | None, bool]]:
        """(channel, when, for whom, only while unacknowledged) of each note of an event: the
        channels of the grid and of the assignee at once, then the grid's chain, step by step."""
        at_once = [c for c in self.channels.values() if wants(c, incident)]
        plan = [(c, now, incident.get("assignee"), False) for c in at_once]
        if event in CHAIN_EVENTS:
            grids = self._grids.get(s)
            for step in grids.chain_for(incident.get("grid_id")):
                person = grids.nearest_person(incident.get("grid_id"), step.role)
                if person is None:
                    continue
                plan += [(c, now + step.after, person.user, step.after > timedelta(0)) for c in self.channels.values()
                         if person.user in c.people and not (step.after == timedelta(0) and c in at_once)]
        return plan

    def skip_acknowledged(self, s: Session, rows: list[Any], now: datetime) -> list[Any]:
        """The rows still to send: a chain's later notes are dropped (marked done, with why)
        once their case was acknowledged, handled or dismissed."""
        bodies = {r.id: json.loads(r.body) for r in rows}
        chained = {rid: b.get("incident_id") for rid, b in bodies.items() if b.get("until_ack")}
        if not chained:
            return rows
        waiting = set(s.scalars(select(Incident.id).where(Incident.id.in_(set(chained.values())),
                                                          Incident.status.in_(("open", "dispatched")))))
        done = [rid for rid, iid in chained.items() if iid not in waiting]
        if done:
            s.execute(update(OutboxMessage).where(OutboxMessage.id.in_(done))
                      .values(sent_at=now, last_error="not sent: the case was acknowledged"))
        return [r for r in rows if r.id not in done]

    # -- send ------------------------------------------------------------------------------------
    def send(self, rows: list[Any], now: datetime, stop: threading.Event | None = None,
             images: dict[int, Path] | None = None) -> dict[int, str | None | datetime]:
        """For each row: None (sent), an error (retried with backoff) or a time (held back until).
        Once `stop` is set the rows not yet sent are held back (to `now`), so a stopping relay
        commits what went out and leaves the rest to the next one: nothing lost, nothing twice."""
        by_channel: dict[str, list[Any]] = {}
        for r in rows:
            by_channel.setdefault(r.topic[len(NOTIFY_PREFIX):], []).append(r)
        results: dict[int, str | None | datetime] = {}
        futures = []
        for name, group in by_channel.items():
            if name not in self.channels:
                results.update({r.id: f"no notification channel named {name!r} is configured" for r in group})
            else:
                futures.append(self._pool.submit(self._send_channel, name, group, now, stop or threading.Event(),
                                                 images or {}))
        for f in futures:
            results.update(f.result())
        return results

    def _send_channel(self, name: str, rows: list[Any], now: datetime, stop: threading.Event,
                      images: dict[int, Path]) -> dict[int, str | None | datetime]:
        channel, window = self.channels[name], self.windows[name]
        now_s = now.timestamp()
        room = window.room(now_s)
        if room <= 0:
            until = datetime.fromtimestamp(window.free_at(), UTC)
            return {r.id: until for r in rows}
        notes = [Note.model_validate(json.loads(r.body)["note"]) for r in rows]
        # one slot kept for the digest of the rest when they do not all fit
        single = len(rows) if len(rows) <= room else room - 1
        batches = [([r], n) for r, n in zip(rows[:single], notes[:single])]
        if single < len(rows):
            batches.append((rows[single:], digest(notes[single:])))
        results: dict[int, str | None | datetime] = {}
        for batch, note in batches:
            if stop.is_set():
                results.update({r.id: now for r in batch})
                continue
            try:
                self._sender.send(channel, note, now_s, _read(images.get(batch[0].id)) if len(batch) == 1 else None)
                error = None
            except ChannelError as e:
                error = str(e)
            window.take(now_s)
            results.update({r.id: error for r in batch})
        return results


def _read(path: Path | None) -> bytes | None:
    try:
        return path.read_bytes() if path is not None else None
    except OSError:  # removed by retention meanwhile: the message goes without it
        return None


def channel_status(s: Session, channels: list[Any]) -> list[dict[str, Any]]:
    """Per channel: rows waiting, of which failing, the last error and the last delivery (from
    the outbox itself: no second bookkeeping). For the devices page and /metrics."""
    t = OutboxMessage.__table__
    out = []
    for c in channels:
        topic = NOTIFY_PREFIX + c.name
        pending, failing = s.execute(select(func.count(), func.count().filter(t.c.attempts > 0))
                                     .where(t.c.topic == topic, t.c.sent_at.is_(None))).one()
        last_sent = s.scalar(select(func.max(t.c.sent_at)).where(t.c.topic == topic))
        last_error = s.scalar(select(t.c.last_error).where(t.c.topic == topic, t.c.sent_at.is_(None),
                                                           t.c.last_error.is_not(None))
                              .order_by(t.c.id.desc()).limit(1))
        out.append({"name": c.name, "kind": c.kind, "pending": pending, "failing": failing,
                    "last_error": last_error, "last_sent_at": last_sent.isoformat() if last_sent else None,
                    "ok": failing == 0})
    return out
