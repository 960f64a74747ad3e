"""The pure incident engine: grids, routing, calendars, the incident lifecycle, silences and
figures. Nothing here reads a clock, a file or the network: time and data are arguments."""
