"""Incidents, the closed loop of grid management. In: parsed alerts (`intake`), people's actions
(`service.act`), passed deadlines (`timers`). Out: incident rows, their timeline, timer rows,
audit entries and outbox messages, all written in the transaction of the change (`writer`).
The rules themselves are the pure engine's (gateway.engine); this stage applies them to the
database. `service.IncidentService` is the entry point."""
