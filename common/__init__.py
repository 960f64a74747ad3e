"""What the edge and the gateway share, and nothing else: time formatting (`common.times`),
reconnect backoff (`common.backoff`), MQTT connection settings (`common.mqtt`) and the
command line (`common.cli`). Pure and small; it imports nothing of gridwatch, and the edge and
the gateway never import each other (the import-linter contracts in pyproject.toml)."""
