"""Getting alerts and media to the gateway without loss. In: alerts and finished clips. Out: MQTT
QoS 1 messages that leave the durable spool only on PUBACK (`spool`, `publisher`) and media
uploaded over resumable HTTP (`media_upload`)."""
