"""The gateway's HTTP application: `create_app(settings, db=None) -> FastAPI`, the REST API
(gateway.api) and the console (gateway.console) on one server, with /healthz and /metrics."""
from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from gateway.api import (
    admin,
    auth_routes,
    catalog,
    channels,
    errors,
    incidents,
    live,
    media,
    open311,
    reports,
    scorecards,
)
from gateway.config import Settings
from gateway.console import languages
from gateway.console import routes as console
from gateway.db import Database
from gateway.incidents.service import IncidentService
from gateway.metrics import NOTIFY_FAILING, NOTIFY_WAITING

log = logging.getLogger("gridwatch.api")


def create_app(settings: Settings, db: Database | None = None, *, service: IncidentService | None = None,
               ingestor=None) -> FastAPI:
    db = db or Database(settings.db_url)
    app = FastAPI(title="gridwatch gateway", version="1",
                  description="Alerts in, grid incidents out. Bearer token in `Authorization` (or the `gw_token` "
                              "cookie). Errors are `{\"error\": {\"code\", \"message\"}}`; lists are "
                              "`{\"items\", \"total\"}` with `limit`/`offset`.")
    app.state.settings = settings
    app.state.db = db
    app.state.service = service or IncidentService.from_settings(settings, db)
    app.state.ingestor = ingestor
    errors.install(app)
    open311.install(app)
    live.install(app)   # GET /api/cameras/{id}/live.jpg

    @app.get("/healthz", tags=["ops"], summary="Liveness and readiness (no auth); 503 when degraded",
             responses={503: {"description": "database or broker unreachable"}})
    def healthz():
        try:
            with db.session() as s:
                s.execute(text("SELECT 1"))
            db_ok = True
        except Exception as e:  # report, never raise: this is what monitoring polls
            log.warning("healthz: database unreachable: %s", e)
            db_ok = False
        ing = app.state.ingestor
        mqtt = None if ing is None else bool(ing.connected)
        ok = db_ok and mqtt is not False
        body = {"status": "ok" if ok else "degraded", "database": db_ok, "mqtt": mqtt}
        return body if ok else JSONResponse(body, status_code=503)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics (no auth)", response_class=Response)
    def metrics() -> Response:
        if settings.notifications:  # read from the outbox at each scrape: the relay may be another process
            with db.session() as s:
                for c in channels.channel_status(s, channels.parse_channels(settings.notifications)):
                    NOTIFY_WAITING.labels(c["name"]).set(c["pending"])
                    NOTIFY_FAILING.labels(c["name"]).set(c["failing"])
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    # media and console first, so a route they define wins over a fallback of the API's
    for r in (media.router, console.router, languages.router, auth_routes.router, incidents.router, catalog.router, admin.router,
              channels.router, open311.router, reports.router, scorecards.router):
        app.include_router(r)
    return app
