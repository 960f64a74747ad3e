"""The sensor bridge: Zigbee2MQTT, ChirpStack v4 and generic MQTT sensors become gridwatch alerts
(`python -m edge sensors --config S.yaml`; see edge/sensors/README.md)."""
