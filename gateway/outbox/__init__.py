"""Incident events out. In: outbox rows the incidents stage committed. Out: each published once
per attempt and retried with backoff until delivered: MQTT QoS 1 on `<prefix>/incidents/<grid>`
and signed webhooks (`relay.py`), in a process of its own (`child.py`)."""
