"""The pure incident engine: grids, routing, calendars, the incident lifecycle, silences and
figures. Nothing here reads a clock, a file or the network: time and data are arguments.

    grids.py      GridSet.from_geojson / locate / professional_for / responsible
    routing.py    RoutingRules.from_yaml, route(...) -> Route
    calendar.py   WorkCalendar.add (working hours, holidays, DST), CALENDAR_TIME
    lifecycle.py  open_incident, attach, apply, merge_into, due_timers, on_timer, can
    silences.py   Silence, is_silenced
    figures.py    summarise, by_grid, to_csv
    scenario.py   Scenario: a fake-clock incident loop for tests
"""
