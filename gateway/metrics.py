"""Prometheus metrics of the gateway (served at /metrics)."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ALERTS = Counter("gridwatch_gateway_alerts_total", "alerts received, by disposition",
                 ["disposition"])  # opened | attached | cleared | suppressed | unrouted | duplicate
DEAD_LETTERS = Counter("gridwatch_gateway_dead_letters_total", "bad payloads kept in the dead-letter table, by reason",
                       ["reason"])
STATUS_MESSAGES = Counter("gridwatch_gateway_status_messages_total", "edge and camera status messages", ["kind"])
INGEST_SECONDS = Histogram("gridwatch_gateway_ingest_seconds", "time to validate, store and route one alert",
                           buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
TIMERS_FIRED = Counter("gridwatch_gateway_timers_fired_total", "deadline timers fired", ["kind"])
OUTBOX_SENT = Counter("gridwatch_gateway_outbox_sent_total", "incident events published")
MQTT_CONNECTED = Gauge("gridwatch_gateway_mqtt_connected", "1 while the ingest is connected to the broker")
NOTIFY_WAITING = Gauge("gridwatch_gateway_notifications_waiting", "notifications not yet delivered, by channel",
                       ["channel"])
NOTIFY_FAILING = Gauge("gridwatch_gateway_notifications_failing",
                       "undelivered notifications whose last attempt failed, by channel", ["channel"])
