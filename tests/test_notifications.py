"""People told of their cases: each chat bot's documented JSON and signature checked by a real
HTTP server on loopback, e-mail through a real SMTP server with STARTTLS, SMS by URL template,
and the whole way through the outbox: the right channels, the platforms' rate with a digest for
the overflow, quiet hours, a failing channel holding back nothing, a relay restart mid-burst."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import ssl
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from fastapi.testclient import TestClient
from sqlalchemy import select

from alerts import parse_alert
from gateway.api.auth import make_principal
from gateway.app import create_app
from gateway.config import Settings
from gateway.db import Database
from gateway.db.grids import import_grids
from gateway.db.models import OutboxMessage
from gateway.incidents.service import IncidentService
from gateway.incidents.timers import TimerWorker
from gateway.outbox.channels import ChannelError, Note, Sender, parse_channels
from gateway.outbox.deliveries import Notifier, channel_status
from gateway.outbox.relay import OutboxRelay
from tests.support.gateway import GRIDS, alert, make_db
from tests.support.http_receiver import Receiver
from tests.support.pki import make_pki
from tests.support.services import free_port

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
NOTE = Note(title="[新派遣] 区域入侵 #7", text="网格: G-03-07", link="http://gw.example/console/incidents/7")
OK = {"wecom": {"errcode": 0, "errmsg": "ok"}, "dingtalk": {"errcode": 0, "errmsg": "ok"},
      "feishu": {"code": 0, "msg": "success", "data": {}}}


def bot(kind: str, name: str, rx: Receiver, monkeypatch, **kw) -> dict:
    env = f"GW_TEST_{name.upper().replace('-', '_')}_URL"
    monkeypatch.setenv(env, rx.url + "?access_token=KEY-" + name)
    return {"name": name, "kind": kind, "url_env": env, **kw}


def test_each_bot_gets_its_platforms_json_and_signature(monkeypatch):
    rx = {k: Receiver(default=(200, v)) for k, v in OK.items()}
    monkeypatch.setenv("GW_TEST_DING_SECRET", "SECdingtalk-secret")
    monkeypatch.setenv("GW_TEST_LARK_SECRET", "feishu-secret")
    wecom, ding, lark = parse_channels([
        bot("wecom", "wecom", rx["wecom"], monkeypatch),
        bot("dingtalk", "ding", rx["dingtalk"], monkeypatch, secret_env="GW_TEST_DING_SECRET"),
        bot("feishu", "lark", rx["feishu"], monkeypatch, secret_env="GW_TEST_LARK_SECRET")])
    sender = Sender()
    now_s = 1_765_000_000.25
    try:
        for channel in (wecom, ding, lark):
            sender.send(channel, NOTE, now_s)
    finally:
        sender.close()
        for r in rx.values():
            r.close()
    (w,), (d,), (f,) = (r.json_bodies() for r in (rx["wecom"], rx["dingtalk"], rx["feishu"]))
    assert rx["wecom"].paths == ["/hook?access_token=KEY-wecom"]
    assert w == {"msgtype": "markdown", "markdown": {"content": "**[新派遣] 区域入侵 #7**\n网格: G-03-07\n"
                                                                 "[查看事件](http://gw.example/console/incidents/7)"}}
    # DingTalk: timestamp in ms and sign = base64(HmacSHA256(secret, timestamp + "\n" + secret)) in the URL
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(rx["dingtalk"].paths[0]).query)
    assert q["access_token"] == ["KEY-ding"] and q["timestamp"] == ["1765000000250"]
    expected = base64.b64encode(hmac.new(b"SECdingtalk-secret", b"1765000000250\nSECdingtalk-secret",
                                         hashlib.sha256).digest()).decode()
    assert q["sign"] == [expected]
    assert d == {"msgtype": "markdown", "markdown": {"title": NOTE.title, "text": f"### {NOTE.title}\n\n{NOTE.text}"
                                                     f"\n\n[查看事件]({NOTE.link})"}}
    # Feishu: timestamp in s, sign = base64(HmacSHA256(key=timestamp + "\n" + secret, msg=b""))
    assert f["timestamp"] == "1765000000"
    assert f["sign"] == base64.b64encode(hmac.new(b"1765000000\nfeishu-secret", b"", hashlib.sha256).digest()).decode()
    assert f["msg_type"] == "post" and f["content"]["post"]["zh_cn"] == {"title": NOTE.title, "content": [[
        {"tag": "text", "text": NOTE.text}, {"tag": "a", "text": " 查看事件", "href": NOTE.link}]]}


def test_a_refusal_or_a_missing_secret_is_an_error_that_names_the_channel_not_its_key(monkeypatch):
    rx = Receiver(answers=[(200, {"errcode": 45009, "errmsg": "api freq out of limit"})])
    (wecom,) = parse_channels([bot("wecom", "ops", rx, monkeypatch)])
    sender = Sender()
    try:
        with pytest.raises(ChannelError, match="channel ops: refused: 45009") as e:
            sender.send(wecom, NOTE, time.time())
        assert "KEY-ops" not in str(e.value)
        monkeypatch.delenv("GW_TEST_OPS_URL")
        with pytest.raises(ChannelError, match="GW_TEST_OPS_URL is not set"):
            sender.send(wecom, NOTE, time.time())
    finally:
        sender.close()
        rx.close()
    with pytest.raises(ValueError, match="url_env"):
        parse_channels([{"name": "x", "kind": "wecom"}])
    with pytest.raises(ValueError, match="kind"):
        parse_channels([{"name": "x", "kind": "telegram", "url_env": "X"}])


class _Auth:
    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"gw" and auth_data.password == b"mail-pass"
        return AuthResult(success=ok)


class _Inbox:
    def __init__(self):
        self.mails = []

    async def handle_DATA(self, server, session, envelope):
        self.mails.append((bool(session.ssl), envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def test_email_goes_over_starttls_with_login_to_a_real_smtp_server(tmp_path, monkeypatch):
    make_pki(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    inbox, port = _Inbox(), free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=tls, require_starttls=True,
                      authenticator=_Auth(), auth_require_tls=True)
    smtp.start()
    monkeypatch.setenv("GW_TEST_SMTP_PASSWORD", "mail-pass")
    (mail,) = parse_channels([{"name": "mail", "kind": "email", "host": "127.0.0.1", "port": port, "username": "gw",
                               "password_env": "GW_TEST_SMTP_PASSWORD", "sender": "gridwatch@c03.example",
                               "to": ["duty@c03.example"], "ca_file": str(tmp_path / "ca.crt")}])
    sender = Sender()
    try:
        sender.send(mail, NOTE, time.time())
    finally:
        sender.close()
        smtp.stop()
    with pytest.raises(ChannelError, match="channel mail: ConnectionRefusedError"):
        Sender().send(mail, NOTE, time.time())  # the server is gone: an error to retry, not a crash
    ((over_tls, frm, to, content),) = inbox.mails
    msg = message_from_bytes(content)
    assert over_tls and frm == "gridwatch@c03.example" and to == ["duty@c03.example"]
    assert str(msg["Subject"]) == NOTE.title or "=?utf-8?" in msg["Subject"]
    body = msg.get_payload(decode=True).decode()
    assert "网格: G-03-07" in body and NOTE.link in body


def relay_with(db, broker, prefix, channels, clock, **kw) -> OutboxRelay:
    notifier = Notifier(parse_channels(channels), prefix=prefix, public_url="http://gw.example")
    return OutboxRelay(db, broker.url, prefix=prefix, notifier=notifier, clock=clock, **kw)


def notify_rows(db) -> list[OutboxMessage]:
    with db.session() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.topic.startswith("notify:"))
                              .order_by(OutboxMessage.id)))


def test_dispatch_and_escalation_tell_the_channels_of_the_grid_and_of_the_person(tmp_path, broker, prefix,
                                                                               monkeypatch):
    db = make_db(f"sqlite:///{tmp_path}/gw.db")
    now = [T0]
    svc = IncidentService(db, media_dir=tmp_path, prefix=prefix, clock=lambda: now[0])
    group, other, sms = Receiver(default=(200, OK["wecom"])), Receiver(default=(200, OK["wecom"])), Receiver()
    channels = [bot("wecom", "c03-group", group, monkeypatch, grids=["G-03-*"]),
                bot("wecom", "c04-group", other, monkeypatch, grids=["G-04-*"]),
                {"name": "sms", "kind": "sms", "url": f"http://127.0.0.1:{sms.port}/send?to={{phone}}&text={{text}}",
                 "method": "GET", "people": ["community.c03"]}]
    relay = relay_with(db, broker, prefix, channels, lambda: now[0])
    try:
        assert relay.wait_connected(10)
        inc = svc.ingest(parse_alert(json.dumps(alert()))).incident_id  # opened + dispatched to worker.g0307
        assert relay.run_once() == 2 and len(notify_rows(db)) == 1  # only 'dispatched' tells anyone
        assert relay.run_once() == 1
        now[0] = T0 + timedelta(minutes=31)  # nobody acknowledged: up to the community (community.c03)
        assert TimerWorker(db, svc).run_once() == 1
        relay.run_once()
        relay.run_once()
    finally:
        relay.stop()
        for r in (group, other, sms):
            r.close()
    titles = [b["markdown"]["content"].split("\n")[0] for b in group.json_bodies()]
    assert titles == [f"**[新派遣] 区域入侵 #{inc}**", f"**[已上报升级] 区域入侵 #{inc}**"]
    assert "http://gw.example/console/incidents/" in group.json_bodies()[0]["markdown"]["content"]
    assert other.requests == []
    (path,) = sms.paths  # the escalation, texted to the community office's phone from the grids
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    assert q["to"] == ["+86 931 000 0300"] and q["text"][0].startswith(f"[已上报升级] 区域入侵 #{inc}")
    assert all(r.sent_at is not None for r in notify_rows(db))


def dispatched_rows(db, prefix, n: int, at: datetime, severity: str = "major", first_id: int = 1,
                    event: str = "dispatched") -> None:
    with db.session() as s:
        for i in range(first_id, first_id + n):
            inc = {"id": i, "grid_id": "G-03-07", "type": "intrusion", "severity": severity,
                   "assignee": "worker.g0307", "due_at": "2026-12-07T04:00:00Z"}
            s.add(OutboxMessage(topic=f"{prefix}/incidents/G-03-07", payload={"event": event, "incident": inc},
                                created_at=at, attempts=0, next_attempt_at=at))


@pytest.fixture
def db(sqlite_db):
    return sqlite_db


def test_the_platforms_rate_is_kept_and_the_overflow_goes_as_one_digest(db, broker, prefix, monkeypatch):
    rx = Receiver(default=(200, OK["wecom"]))
    now = [T0]
    relay = relay_with(db, broker, prefix, [bot("wecom", "g", rx, monkeypatch, grids=["*"], per_minute=5)],
                       lambda: now[0])
    try:
        assert relay.wait_connected(10)
        dispatched_rows(db, prefix, 25, T0)
        relay.run_once()  # publish, enqueue 25 notes
        relay.run_once()  # 4 alone + 1 digest of 21: the minute's 5
        bodies = [b["markdown"]["content"] for b in rx.json_bodies()]
        assert len(bodies) == 5 and bodies[-1].startswith("**21 条新通知**") and "另有 11" in bodies[-1]
        assert all(r.sent_at is not None for r in notify_rows(db))
        dispatched_rows(db, prefix, 2, now[0], first_id=100)
        relay.run_once()
        relay.run_once()  # no room this minute: held back, not failed
        held = [r for r in notify_rows(db) if r.sent_at is None]
        assert len(held) == 2 and all(r.attempts == 0 and r.next_attempt_at == T0 + timedelta(seconds=60)
                                      for r in held)
        now[0] = T0 + timedelta(seconds=61)
        relay.run_once()
    finally:
        relay.stop()
        rx.close()
    assert len(rx.requests) == 7 and "#100" in rx.json_bodies()[5]["markdown"]["content"]


def test_a_coming_deadline_is_told_with_the_time_in_the_users_zone_and_language(db, broker, prefix, monkeypatch):
    zh, en = Receiver(default=(200, OK["wecom"])), Receiver(default=(200, OK["wecom"]))
    relay = relay_with(db, broker, prefix, [bot("wecom", "zh", zh, monkeypatch, grids=["*"]),
                                            bot("wecom", "en", en, monkeypatch, grids=["*"], language="en")],
                       lambda: T0)
    try:
        assert relay.wait_connected(10)
        dispatched_rows(db, prefix, 1, T0, event="deadline_near")
        relay.run_once()
        relay.run_once()
    finally:
        relay.stop()
        zh.close()
        en.close()
    (z,), (e,) = zh.json_bodies(), en.json_bodies()
    assert z["markdown"]["content"].split("\n")[:4] == [
        "**[即将超时] 区域入侵 #1**", "网格: G-03-07", "处置时限: 2026-12-07 12:00", "责任人: worker.g0307"]
    assert e["markdown"]["content"].split("\n")[:3] == [
        "**[Deadline near] Zone intrusion #1**", "Grid: G-03-07", "Due: 7 Dec 2026 12:00"]


def test_quiet_hours_hold_back_all_but_critical_cases(db, broker, prefix, monkeypatch):
    rx = Receiver(default=(200, OK["wecom"]))
    night = datetime(2026, 12, 6, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    now = [night]
    relay = relay_with(db, broker, prefix, [bot("wecom", "g", rx, monkeypatch, grids=["G-03-*"],
                                                quiet_hours="22:00-07:00")], lambda: now[0])
    try:
        assert relay.wait_connected(10)
        dispatched_rows(db, prefix, 1, night)
        dispatched_rows(db, prefix, 1, night, severity="critical", first_id=2)
        relay.run_once()
        relay.run_once()
        assert [json.loads(b)["markdown"]["content"].split("\n")[0] for _, b in rx.requests] == ["**[新派遣] 区域入侵 #2**"]
        (held,) = [r for r in notify_rows(db) if r.sent_at is None]
        assert held.next_attempt_at == datetime(2026, 12, 6, 23, 0, tzinfo=UTC)  # 07:00 in Shanghai
        now[0] = datetime(2026, 12, 6, 23, 0, 1, tzinfo=UTC)
        relay.run_once()
    finally:
        relay.stop()
        rx.close()
    assert len(rx.requests) == 2


def test_a_failing_channel_holds_back_no_other_and_is_reported_without_its_secrets(db, broker, prefix, monkeypatch):
    rx = Receiver(default=(200, OK["wecom"]))
    monkeypatch.setenv("GW_TEST_DOWN_URL", f"http://127.0.0.1:{free_port()}/cgi-bin/webhook/send?key=SECRET-KEY")
    channels = [bot("wecom", "up", rx, monkeypatch, grids=["*"]),
                {"name": "down", "kind": "wecom", "url_env": "GW_TEST_DOWN_URL", "grids": ["*"], "timeout_s": 2}]
    relay = relay_with(db, broker, prefix, channels, lambda: T0)
    try:
        assert relay.wait_connected(10)
        dispatched_rows(db, prefix, 3, T0)
        relay.run_once()
        relay.run_once()
    finally:
        relay.stop()
        rx.close()
    assert len(rx.requests) == 3
    settings = Settings(db_url=str(db.engine.url), admin_token="adm", notifications=channels)
    with db.session() as s:
        status = {c["name"]: c for c in channel_status(s, parse_channels(channels))}
    assert status["up"]["ok"] and status["up"]["pending"] == 0 and status["up"]["last_sent_at"]
    assert not status["down"]["ok"] and status["down"]["failing"] == 3 and "ConnectError" in status["down"]["last_error"]
    with TestClient(create_app(settings, db)) as client:
        r = client.get("/api/notification-channels", headers={"Authorization": "Bearer adm"})
        metrics = client.get("/metrics").text
    assert r.status_code == 200 and {i["name"]: i["failing"] for i in r.json()["items"]} == {"up": 0, "down": 3}
    assert "SECRET-KEY" not in r.text and "GW_TEST" not in r.text and "127.0.0.1" not in r.text
    assert 'gridwatch_gateway_notifications_failing{channel="down"} 3.0' in metrics


def test_a_relay_restart_in_the_middle_of_a_burst_loses_and_doubles_nothing(pg_url, broker, prefix, monkeypatch):
    db = Database(pg_url)
    db.upgrade()
    rx = Receiver(default=(200, OK["wecom"]), delay_s=0.02)
    channels = [bot("wecom", "g", rx, monkeypatch, grids=["*"], per_minute=600)]
    dispatched_rows(db, prefix, 120, datetime.now(UTC))
    first = relay_with(db, broker, prefix, channels, lambda: datetime.now(UTC), poll_interval_s=0.05)
    first.start()
    deadline = time.monotonic() + 30
    while len(rx.requests) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    first.stop()  # a graceful restart, in the middle of the burst
    seen_at_stop = len(rx.requests)
    second = relay_with(db, broker, prefix, channels, lambda: datetime.now(UTC), poll_interval_s=0.05)
    second.start()
    try:
        deadline = time.monotonic() + 60
        while len(rx.requests) < 120 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # nothing more may come
    finally:
        second.stop()
        rx.close()
        db.dispose()
    ids = [int(re.search(r"#(\d+)\*\*", b["markdown"]["content"]).group(1)) for b in rx.json_bodies()]
    assert 20 <= seen_at_stop < 120, seen_at_stop
    assert sorted(ids) == list(range(1, 121)), "every note once: none lost, none twice"


def test_the_grids_chain_tells_the_leader_then_the_community_until_someone_acknowledges(tmp_path, broker, prefix,
                                                                                      monkeypatch):
    data = json.loads(GRIDS.read_text())
    for f in data["features"]:
        if f["properties"]["id"] == "C-03":  # the community's chain, inherited by its grids
            f["properties"]["notify_chain"] = [{"role": "grid_worker", "after_min": 0},
                                               {"role": "grid_leader", "after_min": 10},
                                               {"role": "community", "after_min": 30}]
    db = Database(f"sqlite:///{tmp_path}/gw.db")
    db.upgrade()
    with db.session() as s:
        import_grids(s, data, T0)
    now = [T0]
    svc = IncidentService(db, media_dir=tmp_path, prefix=prefix, clock=lambda: now[0])
    rx = {who: Receiver(default=(200, OK["wecom"])) for who in ("worker", "leader", "community")}
    users = {"worker": "worker.g0307", "leader": "leader.c03", "community": "community.c03"}
    relay = relay_with(db, broker, prefix, [bot("wecom", who, rx[who], monkeypatch, people=[users[who]])
                                            for who in rx], lambda: now[0])
    first_lines = {who: (lambda r=r: [b["markdown"]["content"].split("\n")[0] for b in r.json_bodies()])
                   for who, r in rx.items()}
    try:
        assert relay.wait_connected(10)
        inc = svc.ingest(parse_alert(json.dumps(alert()))).incident_id
        relay.run_once()
        relay.run_once()
        assert first_lines["worker"]() == [f"**[新派遣] 区域入侵 #{inc}**"]
        assert first_lines["leader"]() == [] and first_lines["community"]() == []
        now[0] = T0 + timedelta(minutes=11)
        relay.run_once()
        assert first_lines["leader"]() == [f"**[超时未签收] 区域入侵 #{inc}**"]
        svc.act(inc, "acknowledge", make_principal("worker.g0307", "grid_worker", "G-03-07", svc.grids()), {})
        now[0] = T0 + timedelta(minutes=29)  # (before the 30-minute acknowledgement deadline)
        relay.run_once()
        now[0] = T0 + timedelta(minutes=31)
        relay.run_once()
        skipped = [r for r in notify_rows(db) if r.topic == "notify:community"]
        assert [(r.last_error, r.sent_at is not None) for r in skipped] == [("not sent: the case was acknowledged", True)]
    finally:
        relay.stop()
        for r in rx.values():
            r.close()
        db.dispose()
    assert first_lines["community"]() == [], "acknowledged: the chain stopped"
    assert first_lines["worker"]() == [f"**[新派遣] 区域入侵 #{inc}**"]


def test_bots_and_mail_carry_the_masked_snapshot_with_names_in_each_persons_language(tmp_path, broker, prefix,
                                                                                     monkeypatch):
    import cv2
    import numpy as np

    from gateway.db.models import User
    from gateway.media.service import store_bytes

    db = make_db(f"sqlite:///{tmp_path}/gw.db", seed_password="pw")
    with db.session() as s:
        s.get(User, "worker.g0307").language = "en"  # chosen in the console
    svc = IncidentService(db, media_dir=tmp_path / "media", prefix=prefix, clock=lambda: T0)
    shot = cv2.imencode(".jpg", np.full((36, 64, 3), (40, 160, 60), np.uint8))[1].tobytes()
    group = Receiver(default=(200, OK["wecom"]))
    ding = Receiver(default=(200, OK["dingtalk"]))
    inbox, port = _Inbox(), free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    channels = parse_channels([bot("wecom", "group", group, monkeypatch, grids=["G-03-*"]),
                               bot("dingtalk", "ding", ding, monkeypatch, grids=["G-03-*"], language="zh-CN"),
                               {"name": "mail", "kind": "email", "host": "127.0.0.1", "port": port, "starttls": False,
                                "sender": "gridwatch@c03.example", "to": ["duty@c03.example"],
                                "grids": ["G-03-07"]}])
    notifier = Notifier(channels, prefix=prefix, public_url="http://gw.example", media_dir=tmp_path / "media")
    relay = OutboxRelay(db, broker.url, prefix=prefix, notifier=notifier, clock=lambda: T0)
    try:
        assert relay.wait_connected(10)
        inc = svc.ingest(parse_alert(json.dumps(alert()))).incident_id
        with db.session() as s:  # the edge's snapshot, masked there, uploaded with the alert
            store_bytes(s, svc.media, shot, "image/jpeg", kind="snapshot", now=T0, incident_id=inc)
        relay.run_once()
        relay.run_once()
    finally:
        relay.stop()
        smtp.stop()
        group.close()
        ding.close()
    text, image = group.json_bodies()  # the worker's language (en), then the picture itself
    assert text["markdown"]["content"].split("\n")[:2] == [f"**[New case dispatched] Zone intrusion #{inc}**",
                                                           "Grid: 西关第7网格（校园） (G-03-07)"]
    assert "Assignee: 网格员 王芳" in text["markdown"]["content"]
    assert image == {"msgtype": "image", "image": {"base64": base64.b64encode(shot).decode(),
                                                   "md5": hashlib.md5(shot).hexdigest()}}
    (ding_body,) = ding.json_bodies()  # the channel's own language; DingTalk carries the link only
    assert ding_body["markdown"]["title"] == f"[新派遣] 区域入侵 #{inc}" and ding_body["msgtype"] == "markdown"
    ((_, _, _, content),) = inbox.mails
    mail = message_from_bytes(content)
    (attached,) = [p for p in mail.walk() if p.get_content_maintype() == "image"]
    assert attached.get_filename() == "snapshot.jpg" and attached.get_payload(decode=True) == shot
