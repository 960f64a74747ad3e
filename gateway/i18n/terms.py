"""The names of alert types, incident states, levels and actions: the terms of grid management."""
from __future__ import annotations

from gateway.i18n import N_

TYPES = {
    "intrusion": N_("Zone intrusion"), "line_crossing": N_("Line crossing"), "loitering": N_("Loitering"),
    "falling_object": N_("Object thrown or falling from height"), "tamper.covered": N_("Camera covered"),
    "tamper.defocus": N_("Camera defocused"), "tamper.moved": N_("Camera moved"), "stream.lost": N_("Video lost"),
    "stream.restored": N_("Video restored"), "motion": N_("Motion"), "camera_event": N_("Camera event"),
    "sensor.alarm": N_("Sensor alarm"), "sensor.threshold": N_("Sensor over threshold"),
    "sensor.offline": N_("Sensor offline"), "sensor.battery_low": N_("Sensor battery low"),
}
STATES = {
    "open": N_("Filed"), "dispatched": N_("Dispatched"), "acknowledged": N_("Acknowledged"),
    "resolved": N_("Handled"), "verified": N_("Verified"), "closed": N_("Closed"), "dismissed": N_("Dismissed"),
}
LEVELS = {"grid": N_("Grid"), "community": N_("Community"), "street": N_("Street office")}
EVENTS = {  # what happened, as a message's headline
    "dispatched": N_("New case dispatched"), "escalated": N_("Case escalated"), "reopened": N_("Case sent back"),
    "deadline_near": N_("Deadline near"), "unacknowledged": N_("Not acknowledged yet"),
}
