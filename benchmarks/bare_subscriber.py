"""A subscriber that only receives: the gateway's own MQTT link (gateway.mqtt.link, QoS 1,
each message acknowledged at once), in a process of its own like the gateway. The delivery
bench measures the broker alone with it.

    python -m benchmarks.bare_subscriber --url mqtt://127.0.0.1:PORT --topic 'p/#' --count N

prints "ready" once subscribed, then "done <time.time()> <count>" when `count` messages came.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid

from common.mqtt import MqttSettings
from gateway.mqtt.link import MqttLink


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, required=True)
    a = p.parse_args(argv)
    seen = [0]
    done = threading.Event()

    def on_message(link, topic, payload, qos, ack) -> None:
        if ack is not None:
            link.ack([ack])  # at once
        seen[0] += 1
        if seen[0] >= a.count:
            done.set()

    link = MqttLink(MqttSettings(url=a.url), f"bare-{uuid.uuid4().hex[:8]}", name="bare",
                    subscriptions=(a.topic,), on_message=on_message).start()
    deadline = time.monotonic() + 30
    while not link.connected and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # the SUBACK
    print("ready", flush=True)
    done.wait(600)
    print(f"done {time.time()} {seen[0]}", flush=True)
    link.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
