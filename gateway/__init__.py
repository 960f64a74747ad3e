"""The gateway: alerts in, grid incidents out (ingest, routing, incident engine, API, console)."""
