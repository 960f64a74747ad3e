"""The alert contract shared by edge and gateway (docs/design.md, "Alert")."""
from alerts import topics
from alerts.ids import new_alert_id
from alerts.schema import SCHEMA_ID, Alert, AlertSource, AlertType, Severity, parse_alert

__all__ = ["Alert", "AlertSource", "AlertType", "Severity", "SCHEMA_ID", "new_alert_id", "parse_alert", "topics"]
