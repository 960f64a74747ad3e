"""One error shape for the whole API: {"error": {"code": "...", "message": "..."}}."""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.api.auth import AuthError
from gateway.incidents.errors import BadRequest, Conflict, Forbidden, NotFound

_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          409: "conflict", 413: "too_large", 422: "invalid_request"}


def error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


ERROR_SCHEMA = {"type": "object", "properties": {"error": {"type": "object", "properties": {
    "code": {"type": "string"}, "message": {"type": "string"}}, "required": ["code", "message"]}},
    "required": ["error"]}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    s: {"description": d, "content": {"application/json": {"schema": ERROR_SCHEMA}}}
    for s, d in ((401, "no or bad token"), (403, "not allowed"), (404, "not found or not visible"))}


class RejectNul:
    """ASGI middleware: PostgreSQL text cannot hold NUL, so a NUL anywhere in the path or the query
    string is a 422 before any handler (or the database) sees it."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and (b"%00" in scope.get("query_string", b"") or "\x00" in scope.get("path", "")):
            why = "the path or query holds a NUL character (%00), which no text can store"
            response = JSONResponse([{"code": 400, "description": why}], status_code=400) \
                if scope.get("path", "").startswith("/open311/") else error(422, "invalid_request", why)  # GeoReport's form
            return await response(scope, receive, send)
        return await self.app(scope, receive, send)


def _plain(status: int, code: str):
    async def handler(_r: Request, e: Exception):
        return error(status, code, str(e))
    return handler


def install(app: FastAPI) -> None:
    app.add_middleware(RejectNul)

    @app.exception_handler(AuthError)
    async def _auth(_r: Request, e: AuthError):
        headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
        return error(e.status, e.code, e.message, headers)

    # the service's own errors: one status and code each, the message as raised
    for exc, (status, code) in {NotFound: (404, "not_found"), Forbidden: (403, "forbidden"),
                                Conflict: (409, "invalid_transition"), BadRequest: (400, "bad_request")}.items():
        app.add_exception_handler(exc, _plain(status, code))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_r: Request, e: StarletteHTTPException):
        return error(e.status_code, _CODES.get(e.status_code, "error"), str(e.detail), getattr(e, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_r: Request, e: RequestValidationError):
        parts = []
        for err in e.errors()[:5]:
            where = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
            parts.append(f"{where}: {err.get('msg')}")
        return error(422, "invalid_request", "; ".join(parts) or "invalid request")
