"""The broker side of the gateway. In: alert and status messages on `<prefix>/alerts/+/+` and
`<prefix>/status/#` (a persistent MQTT 5 session, `link.py` on gmqtt). Out: batches of parsed
alerts handed to the incidents stage (`intake.py`), acknowledged only after their commit; bad
payloads kept in the dead-letter table. The link also publishes for the outbox relay."""
