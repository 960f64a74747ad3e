"""Notification channels: where the people an incident is assigned to already are.

Each channel is configured once (`notifications.channels` in the gateway config) and sends a
`Note` (title, text, link) in its platform's documented format:
- `wecom`: WeCom (企业微信) group bot webhook, `{"msgtype": "markdown", "markdown": {"content"}}`,
  then the masked snapshot as `{"msgtype": "image", "image": {"base64", "md5"}}` (JPEG/PNG up to
  2 MB), answer `{"errcode": 0}`;
- `dingtalk`: DingTalk (钉钉) custom robot, markdown message; with a signing secret the URL gets
  `timestamp` (ms) and `sign` = base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")), answer
  `{"errcode": 0}`;
- `feishu`: Feishu/Lark (飞书) custom bot, a `post` message; with a signing secret the body gets
  `timestamp` (s) and `sign` = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", empty message)),
  answer `{"code": 0}`;
- `email`: SMTP with STARTTLS (and login when a user is set), plain text, the masked snapshot
  attached;
- `sms`: a generic SMS gateway over HTTP, the URL a template with `{phone}` and `{text}`
  (URL-encoded), GET or POST.
DingTalk and Feishu bots carry the link only: DingTalk shows an image only from a URL its servers
can fetch without a login, and a Feishu bot needs an `image_key` from the app API.
The words are in the note's language: the channel's `language`, else the setting of the person
it is for, else the gateway's `GRIDWATCH_LANGUAGE`.
Secrets (bot URLs carry their key, signing secrets, the SMTP password) are read from the
environment variables a channel names (`*_env`), never from the config file, and never appear
in the API, in logs or in events: errors name the channel, not its URL.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import smtplib
import ssl
import urllib.parse
from email.message import EmailMessage
from typing import Annotated, Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from gateway.i18n import t

NAME = r"^[A-Za-z0-9_.\-]+$"
log = logging.getLogger(__name__)


class ChannelError(Exception):
    """A message the channel did not take; retried later by the outbox relay."""


class Note(BaseModel):
    """One message, already in the recipient's language."""
    title: str
    text: str
    link: str | None = None
    phones: list[str] = Field(default_factory=list)  # for SMS: the people it is for
    language: str = "zh-CN"


IMAGE_MAX = 2 * 1024 * 1024  # WeCom's limit for a bot's image, before base64


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=NAME)
    language: Literal["zh-CN", "en"] | None = Field(None, description="None: each person's own, else the gateway's")
    grids: list[str] = Field(default_factory=list, description="grid ids or globs (G-03-*): incidents of these grids")
    people: list[str] = Field(default_factory=list, description="user names: incidents assigned to them")
    per_minute: int = Field(20, ge=1, le=600, description="the platform's cap; the overflow goes as one digest")
    quiet_hours: str | None = Field(None, pattern=r"^\d\d:\d\d-\d\d:\d\d$",
                                    description="HH:MM-HH:MM in the gateway's time zone: only critical cases then")
    timeout_s: float = 10.0

    def secret(self, env_name: str | None) -> str | None:
        if not env_name:
            return None
        value = os.environ.get(env_name)
        if not value:
            raise ChannelError(f"channel {self.name}: environment variable {env_name} is not set")
        return value


class _Bot(_Channel):
    url_env: str = Field(description="environment variable holding the bot's webhook URL (it carries the key)")
    secret_env: str | None = Field(None, description="environment variable holding the signing secret")


class WeComChannel(_Bot):
    kind: Literal["wecom"]

    def request(self, note: Note, now_s: float) -> tuple[str, dict[str, Any]]:
        content = f"**{note.title}**\n{note.text}" + (f"\n[{_open(note.language)}]({note.link})" if note.link else "")
        return str(self.secret(self.url_env)), {"msgtype": "markdown", "markdown": {"content": content}}

    def image(self, data: bytes) -> dict[str, Any]:
        return {"msgtype": "image", "image": {"base64": base64.b64encode(data).decode(), "md5": hashlib.md5(data).hexdigest()}}


class DingTalkChannel(_Bot):
    kind: Literal["dingtalk"]

    def request(self, note: Note, now_s: float) -> tuple[str, dict[str, Any]]:
        url = str(self.secret(self.url_env))
        secret = self.secret(self.secret_env)
        if secret:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(
                {"timestamp": dingtalk_timestamp(now_s), "sign": dingtalk_sign(secret, dingtalk_timestamp(now_s))})
        text = f"### {note.title}\n\n{note.text}" + (f"\n\n[{_open(note.language)}]({note.link})" if note.link else "")
        return url, {"msgtype": "markdown", "markdown": {"title": note.title, "text": text}}


class FeishuChannel(_Bot):
    kind: Literal["feishu"]

    def request(self, note: Note, now_s: float) -> tuple[str, dict[str, Any]]:
        line: list[dict[str, str]] = [{"tag": "text", "text": note.text}]
        if note.link:
            line.append({"tag": "a", "text": " " + _open(note.language), "href": note.link})
        lang = "zh_cn" if note.language == "zh-CN" else "en_us"
        body: dict[str, Any] = {"msg_type": "post", "content": {"post": {lang: {"title": note.title, "content": [line]}}}}
        secret = self.secret(self.secret_env)
        if secret:
            ts = str(int(now_s))
            body = {"timestamp": ts, "sign": feishu_sign(secret, ts), **body}
        return str(self.secret(self.url_env)), body


class EmailChannel(_Channel):
    kind: Literal["email"]
    host: str
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password_env: str | None = None
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[str] = Field(min_length=1, description="addresses (a team mailbox or the people themselves)")
    ca_file: str | None = Field(None, description="CA bundle for a server with a private certificate")


class SmsChannel(_Channel):
    kind: Literal["sms"]
    url: str = Field(pattern=r"^https?://.*\{phone\}", description="template with {phone} and {text}, e.g. "
                     "https://sms.example/send?to={phone}&msg={text}; {key} is the key from key_env")
    method: Literal["GET", "POST"] = "POST"
    key_env: str | None = None
    to: list[str] = Field(default_factory=list, description="numbers always told, beside the assignee's phone")


Channel = Annotated[WeComChannel | DingTalkChannel | FeishuChannel | EmailChannel | SmsChannel,
                    Field(discriminator="kind")]


class _Channels(BaseModel):
    channels: list[Channel]


def parse_channels(items: list[dict[str, Any]]) -> list[Any]:
    """Validated channels; a bad entry raises pydantic's error naming its field."""
    channels = _Channels.model_validate({"channels": items}).channels
    names = [c.name for c in channels]
    if len(set(names)) != len(names):
        raise ValueError(f"notification channels: names must be unique, got {names}")
    return channels


def dingtalk_timestamp(now_s: float) -> str:
    return str(int(now_s * 1000))


def dingtalk_sign(secret: str, timestamp: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp: str) -> str:
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _open(language: str) -> str:
    return t(language, "Open the incident")


class Sender:
    """Sends notes; one pooled HTTP client for every bot and SMS gateway."""

    def __init__(self) -> None:
        self._http = httpx.Client(follow_redirects=False)

    def send(self, channel: Any, note: Note, now_s: float, image: bytes | None = None) -> None:
        """Raises ChannelError unless the platform took the message. `image` is the case's
        masked snapshot, for the channels that can carry one."""
        image = image if image and len(image) <= IMAGE_MAX else None
        if isinstance(channel, EmailChannel):
            return self._email(channel, note, image)
        if isinstance(channel, SmsChannel):
            return self._sms(channel, note)
        url, body = channel.request(note, now_s)
        self._bot(channel, url, body)
        if image and isinstance(channel, WeComChannel):
            try:  # the text went out: a refused picture must not send the text again on a retry
                self._bot(channel, url, channel.image(image))
            except ChannelError as e:
                log.warning("%s (the snapshot; the message itself was sent)", e)
        return None

    def _bot(self, channel: Any, url: str, body: dict[str, Any]) -> None:
        answer = self._post(channel, url, json=body)
        code = answer.get("errcode", answer.get("code", answer.get("StatusCode", 0)))
        if code != 0:  # the bots answer HTTP 200 with an error code (e.g. 45009: too many messages)
            raise ChannelError(f"channel {channel.name}: refused: {code} {str(answer.get('errmsg') or answer.get('msg'))[:200]}")

    def _post(self, channel: Any, url: str, **kw: Any) -> dict[str, Any]:
        try:
            r = self._http.post(url, timeout=channel.timeout_s, **kw)
        except httpx.HTTPError as e:  # not str(e): it may carry the URL, and the URL the key
            raise ChannelError(f"channel {channel.name}: {type(e).__name__}") from None
        if not 200 <= r.status_code < 300:
            raise ChannelError(f"channel {channel.name}: HTTP {r.status_code}")
        try:
            data = r.json()
        except ValueError:
            data = {}
        return data if isinstance(data, dict) else {}

    def _sms(self, channel: SmsChannel, note: Note) -> None:
        phones = list(dict.fromkeys([*note.phones, *channel.to]))
        if not phones:
            raise ChannelError(f"channel {channel.name}: nobody to text (no phone for the assignee, no 'to')")
        text = f"{note.title}: {note.text}" + (f" {note.link}" if note.link else "")
        key = channel.secret(channel.key_env) or ""
        for phone in phones:
            q = urllib.parse.quote
            url = channel.url.format(phone=q(phone), text=q(text), key=q(key))
            try:
                r = self._http.request(channel.method, url, timeout=channel.timeout_s)
            except httpx.HTTPError as e:
                raise ChannelError(f"channel {channel.name}: {type(e).__name__}") from None
            if not 200 <= r.status_code < 300:
                raise ChannelError(f"channel {channel.name}: HTTP {r.status_code}")

    def _email(self, channel: EmailChannel, note: Note, image: bytes | None) -> None:
        msg = EmailMessage()
        msg["Subject"], msg["From"], msg["To"] = note.title, channel.sender, ", ".join(channel.to)
        msg.set_content(note.text + (f"\n\n{_open(note.language)}: {note.link}\n" if note.link else "\n"))
        if image:
            subtype = "png" if image.startswith(b"\x89PNG") else "jpeg"
            msg.add_attachment(image, maintype="image", subtype=subtype, filename=f"snapshot.{subtype.replace('jpeg', 'jpg')}")
        try:
            with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout_s) as smtp:
                if channel.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=channel.ca_file))
                if channel.username:
                    smtp.login(channel.username, channel.secret(channel.password_env) or "")
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as e:
            raise ChannelError(f"channel {channel.name}: {type(e).__name__}: {str(e)[:200]}") from None

    def close(self) -> None:
        self._http.close()
