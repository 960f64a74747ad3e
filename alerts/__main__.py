"""`python -m alerts` prints the alert JSON Schema (also kept in alerts/alert.schema.json)."""
import json

from alerts.schema import json_schema

print(json.dumps(json_schema(), indent=2))
