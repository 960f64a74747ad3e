"""The gateway's MQTT connections (the ingest's subscription, the outbox relay's publisher).

They run on gmqtt, not on paho as the edge does: the gateway handles every alert of every edge
and every incident event, and paho costs three to four times the CPU per QoS 1 message
(measured on the 2-core development machine: ~250 us against ~65 us a message received, ~200 us
against ~65 us a message published; paho builds MQTT 5 property objects for every packet,
reads each header byte with its own system call and keeps a condition variable per message).

gmqtt is asyncio-based: each `MqttLink` runs its own event loop in a daemon thread, and the
rest of the gateway stays threaded. Connecting retries with capped exponential backoff until
the broker answers; after a first connection gmqtt reconnects by itself (`reconnect_s` apart),
and the link subscribes again on every connection.

Acknowledgements (ingest): a received QoS 1 message is acknowledged when its `done` future is
resolved (`ack`), which the ingest does only after its transaction committed. A message that
is never acknowledged is redelivered by the broker after a reconnection; so when a connection
is lost, the messages it delivered and that were not acknowledged yet are cancelled: an
acknowledgement must never go out on a later connection, where its packet id means another
message."""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

import gmqtt
from gmqtt.mqtt.constants import MQTTv50, MQTTv311
from gmqtt.storage import PersistentStorage

from common.backoff import Backoff
from common.mqtt import MqttSettings, credentials, host_port, tls_context

log = logging.getLogger(__name__)

# (link, topic, payload, qos, done) -> None; `done` is None for QoS 0, else resolved by `ack`
MessageHandler = Callable[["MqttLink", str, bytes, int, "asyncio.Future | None"], None]
CONNECT_RETRY_MAX_S = 10.0
PUBLISH_WINDOW = 1000  # QoS 1 publishes awaiting their PUBACK at once (at most the broker's receive maximum)


class _AckedStorage(PersistentStorage):
    """gmqtt's store of unacknowledged outgoing messages, noting which packet ids got their PUBACK."""

    def __init__(self, on_ack: Callable[[int], None]):
        super().__init__()
        self.last_mid: int | None = None
        self._on_ack = on_ack

    def push_message(self, mid, raw_package):
        self.last_mid = mid
        super().push_message(mid, raw_package)

    def remove_message_by_mid(self, mid):
        if mid in self._messages:
            self._on_ack(mid)
        super().remove_message_by_mid(mid)


class MqttLink:
    """One MQTT connection of the gateway. `subscriptions`: topic filters (QoS 1) subscribed on
    every connection; `on_message` is called in the link's thread for each message received."""

    def __init__(self, settings: MqttSettings, client_id: str, *, name: str, persistent: bool = False,
                 session_expiry_s: int | None = None, receive_maximum: int | None = None,
                 subscriptions: tuple[str, ...] = (), on_message: MessageHandler | None = None,
                 on_state: Callable[[bool], None] | None = None, reconnect_s: float = 2.0):
        self.settings = settings
        self.client_id = client_id
        self.name = name
        self.persistent = persistent
        self.subscriptions = subscriptions
        self._on_message = on_message
        self._on_state = on_state or (lambda connected: None)
        self._v5 = settings.protocol == "5"
        self._session_expiry_s = session_expiry_s
        self._receive_maximum = receive_maximum
        self._reconnect_s = reconnect_s
        self._up = False  # between on_connect and on_disconnect (see `connected`)
        self.connection = 0  # counts connections: an ack is valid only on the connection that delivered
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(self._loop_exception)
        self._thread: threading.Thread | None = None
        self._client: gmqtt.Client | None = None
        self._unacked: dict[asyncio.Future, asyncio.Task] = {}  # received on this connection, awaiting `ack`
        self._acking: set[asyncio.Task] = set()  # acknowledged, their PUBACK not sent yet
        self._acks_sent: asyncio.Event | None = None
        self._storage: _AckedStorage | None = None
        self._pending: set[int] = set()  # packet ids of our publishes awaiting their PUBACK
        self._ack_event: asyncio.Event | None = None  # set when `_pending` shrank to `_wake_at`
        self._wake_at = 0
        self._window = PUBLISH_WINDOW
        self._stopping = False

    @property
    def connected(self) -> bool:
        """Connected now: also False from the moment the socket closed, which gmqtt reports
        (on_disconnect) only a little later."""
        client = self._client
        return self._up and client is not None and client.is_connected

    # -- lifecycle (any thread) -------------------------------------------------------------
    def start(self) -> "MqttLink":
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect (a DISCONNECT packet, so a persistent session is kept, and no will)."""
        if self._thread is None or not self._thread.is_alive():
            return
        self._stopping = True
        try:
            asyncio.run_coroutine_threadsafe(self._disconnect(), self._loop).result(timeout)
        except Exception as e:  # noqa: BLE001 - stopping anyway
            log.debug("MQTT %s: disconnect: %s", self.name, e)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.create_task(self._connect())
        self._loop.run_forever()
        # what is still pending (a connect retry waiting out its backoff, gmqtt's own tasks) is
        # cancelled and let finish, so no task is destroyed pending when the loop closes
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    def _make_client(self) -> gmqtt.Client:
        props: dict[str, Any] = {}
        if self._v5 and self._session_expiry_s is not None:
            props["session_expiry_interval"] = self._session_expiry_s
        if self._v5 and self._receive_maximum:
            props["receive_maximum"] = self._receive_maximum
        self._storage = _AckedStorage(self._note_ack)
        client = gmqtt.Client(self.client_id, clean_session=not self.persistent, optimistic_acknowledgement=False,
                              persistent_storage=self._storage, logger=logging.getLogger("gmqtt.client"), **props)
        client.set_config({"reconnect_retries": -1, "reconnect_delay": self._reconnect_s})
        username, password = credentials(self.settings)
        if username:
            client.set_auth_credentials(username, password)
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_message = self._received
        return client

    async def _connect(self) -> None:
        """The first connection, retried with capped exponential backoff and jitter (gmqtt
        reconnects by itself only once it has been connected)."""
        host, port = host_port(self.settings)
        backoff = Backoff(initial_s=0.2, max_s=CONNECT_RETRY_MAX_S, jitter=0.2)
        while not self._stopping:
            self._client = self._make_client()
            try:
                await self._client.connect(host, port, ssl=tls_context(self.settings) or False,
                                           keepalive=self.settings.keepalive_s,
                                           version=MQTTv50 if self._v5 else MQTTv311)
                return
            except Exception as e:  # noqa: BLE001 - refused, unreachable, TLS: all retried
                delay = backoff.next()
                log.warning("MQTT %s: cannot connect to %s:%s (%s); retrying in %.1fs", self.name, host, port,
                            e or type(e).__name__, delay)
                await self._drop(self._client)
                await asyncio.sleep(delay)

    @staticmethod
    async def _drop(client: gmqtt.Client) -> None:
        try:
            await client.disconnect()
        except Exception:  # noqa: BLE001 - it never connected
            pass

    async def _disconnect(self) -> None:
        if self._acking:  # acknowledgements given (`ack`) go out before the DISCONNECT
            self._acks_sent = asyncio.Event()
            try:
                await asyncio.wait_for(self._acks_sent.wait(), 5.0)
            except TimeoutError:
                log.warning("MQTT %s: %d acknowledgements not sent before disconnecting", self.name, len(self._acking))
        if self._client is not None:
            await self._drop(self._client)
        self._lost()

    # -- callbacks (the link's thread) ------------------------------------------------------
    def _connected(self, client, flags, rc, properties) -> None:
        self.connection += 1
        self._up = True
        # gmqtt refuses a packet id beyond the broker's receive maximum: publish within it.
        # (gmqtt merges the CONNACK's properties, lists, with our CONNECT's, which win.)
        broker_max = (properties or {}).get("receive_maximum")
        self._window = min(PUBLISH_WINDOW, broker_max[0] - 1) if isinstance(broker_max, list) else PUBLISH_WINDOW
        if self.subscriptions:
            known = {s.topic for s in client.subscriptions}
            for sub in client.subscriptions:  # gmqtt keeps them, but sends them only once
                client.resubscribe(sub)
            new = [gmqtt.Subscription(t, qos=1) for t in self.subscriptions if t not in known]
            if new:
                client.subscribe(new)
        log.info("MQTT %s connected to %s as %s", self.name, self.settings.url, self.client_id)
        self._on_state(True)

    def _disconnected(self, client, packet, exc=None) -> None:
        if self._up and not self._stopping:
            log.warning("MQTT %s: lost the broker; reconnecting", self.name)
        self._lost()

    def _lost(self) -> None:
        self.connection += 1  # acknowledgements of the old connection are void
        self._up = False
        for fut in self._unacked:
            fut.cancel()  # no PUBACK for these: the broker redelivers them
        self._unacked.clear()
        self._acking.clear()
        if self._ack_event is not None:
            self._ack_event.set()  # wake a publisher waiting for PUBACKs
        self._on_state(False)

    async def _received(self, client, topic, payload, qos, properties) -> int:
        if qos == 0 or self._on_message is None:
            if self._on_message is not None:
                self._on_message(self, topic, payload, qos, None)
            return 0
        done = self._loop.create_future()
        task = asyncio.current_task()
        task.add_done_callback(self._finished)  # runs after gmqtt's own callback, which sends the PUBACK
        self._unacked[done] = task
        self._on_message(self, topic, payload, qos, done)
        await done  # resolved by `ack` once stored; cancelled when the connection is lost
        return 0  # gmqtt sends the PUBACK now

    def _finished(self, task: asyncio.Task) -> None:
        self._acking.discard(task)
        if not self._acking and self._acks_sent is not None:
            self._acks_sent.set()

    def _loop_exception(self, loop, context) -> None:
        # A cancelled acknowledgement (see `_lost`) surfaces in gmqtt's PUBACK callback: expected.
        if isinstance(context.get("exception"), asyncio.CancelledError):
            return
        loop.default_exception_handler(context)

    # -- acknowledging received messages (any thread) ---------------------------------------
    def ack(self, done: list["asyncio.Future"]) -> None:
        """Acknowledge these messages (their PUBACKs go out on the connection that delivered
        them; those of a lost connection were cancelled and stay unacknowledged)."""
        if done and not self._loop.is_closed():  # stopped: the broker redelivers them
            self._loop.call_soon_threadsafe(self._ack, done)

    def _ack(self, done: list["asyncio.Future"]) -> None:
        for fut in done:
            task = self._unacked.pop(fut, None)
            if task is not None and not fut.done():
                fut.set_result(None)
                self._acking.add(task)

    # -- publishing (any thread but the link's) ---------------------------------------------
    def publish_batch(self, messages: list[tuple[str, bytes | str]], timeout: float) -> list[bool]:
        """Publish QoS 1 messages in order; True for each that the broker acknowledged within
        `timeout` (False: not connected, or no PUBACK in time: publish it again later)."""
        if not messages:
            return []
        future = asyncio.run_coroutine_threadsafe(self._publish_batch(messages, timeout), self._loop)
        try:
            return future.result(timeout + 5)
        except Exception as e:  # noqa: BLE001 - e.g. the loop stopped meanwhile
            log.warning("MQTT %s: publishing failed: %s", self.name, e)
            return [False] * len(messages)

    def publish_now(self, topic: str, payload: bytes | str) -> bool:
        """Fire and forget at QoS 0 (e.g. the live view's wants); False when not connected."""
        if not self.connected or self._loop.is_closed():
            return False
        self._loop.call_soon_threadsafe(self._publish_qos0, topic, payload)
        return True

    def _publish_qos0(self, topic: str, payload: bytes | str) -> None:
        if self.connected:
            self._client.publish(topic, payload, qos=0)

    def _note_ack(self, mid: int) -> None:
        self._pending.discard(mid)
        if self._ack_event is not None and len(self._pending) <= self._wake_at:
            self._ack_event.set()

    async def _publish_batch(self, messages: list[tuple[str, bytes | str]], timeout: float) -> list[bool]:
        deadline = self._loop.time() + timeout
        connection = self.connection

        def live() -> bool:
            return self.connected and self.connection == connection

        mids: list[int | None] = []
        self._pending = set()
        self._ack_event = asyncio.Event()
        try:
            for topic, payload in messages:
                if len(self._pending) >= self._window and live():
                    await self._acks_down_to(self._window - 1, deadline)
                if not live() or len(self._pending) >= self._window:
                    mids.append(None)  # not sent now: the caller publishes it again later
                    continue
                self._client.publish(topic, payload, qos=1)
                mids.append(self._storage.last_mid)
                self._pending.add(self._storage.last_mid)
            if self._pending and live():
                await self._acks_down_to(0, deadline)
            return [m is not None and m not in self._pending for m in mids]
        finally:
            self._ack_event = None

    async def _acks_down_to(self, n: int, deadline: float) -> None:
        """Wait until at most `n` of our publishes await their PUBACK, the connection is lost
        (`_lost` sets the event) or `deadline` passed."""
        self._wake_at = n
        self._ack_event.clear()
        if len(self._pending) <= n:
            return
        try:
            await asyncio.wait_for(self._ack_event.wait(), max(0.0, deadline - self._loop.time()))
        except TimeoutError:
            pass
