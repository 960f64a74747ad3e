"""The operator console (incident board, incident page, map, devices, figures) and the grid
worker's phone view, served by the gateway as static HTML/CSS/ES modules (no build step,
nothing fetched from the internet). `routes.router` is included by `gateway.app.create_app`."""
