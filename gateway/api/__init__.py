"""The gateway's HTTP API: `create_app(settings, db=None) -> FastAPI`."""
from __future__ import annotations

import importlib
import importlib.util
import logging

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from gateway.api import admin, auth_routes, catalog, errors, incidents
from gateway.config import Settings
from gateway.db import Database
from gateway.incidents import IncidentService

log = logging.getLogger("gridwatch.api")
# Routers of other parts of the gateway, included when their modules exist.
OPTIONAL_ROUTERS = ("gateway.media.api", "gateway.console.routes")


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
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    # the other parts' routers first, so a route they define wins over a fallback of ours
    for module in OPTIONAL_ROUTERS:
        if importlib.util.find_spec(module) is not None:
            try:
                app.include_router(importlib.import_module(module).router)
            except Exception:  # a broken optional part must not take the API down
                log.exception("cannot include the router of %s", module)
    for r in (auth_routes.router, incidents.router, catalog.router, admin.router):
        app.include_router(r)
    return app
