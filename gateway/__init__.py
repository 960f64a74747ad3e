"""The gateway: alerts in, grid incidents out. One folder per stage of the flow:

    mqtt/       alerts and edge/camera statuses in from the broker (link, intake)
    incidents/  alerts and people's actions become incidents: intake, lifecycle, timers
    engine/     the pure rules the incidents stage applies (grids, routing, lifecycle)
    outbox/     incident events out: MQTT, signed webhooks (the relay)
    media/      clips, snapshots and photos: storage, retention, export
    api/        the REST API;  console/  the operator console and phone view
    db/         models, migrations, bulk writes, the audit trail, the grids table
    commands/   `python -m gateway ...`: serve, relay, import/export grids, migrate, demo

`app.create_app` serves api and console together; `config.Settings` is the configuration.
An alert's way from its MQTT topic to the committed incident: mqtt/link.py -> mqtt/intake.py ->
incidents/service.py -> incidents/intake.py -> engine/lifecycle.py -> incidents/writer.py."""
