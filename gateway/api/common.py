"""Helpers shared by the routers: the service, pagination, grid-visibility filters, the reader's language."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Path, Query, Request
from pydantic import BaseModel, model_validator
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from gateway.api.auth import Principal
from gateway.db.models import User
from gateway.i18n import negotiate
from gateway.incidents.service import IncidentService

LANGUAGE_COOKIE = "gw_lang"  # the language picked on this browser (e.g. on the login page)


def reader_language(request: Request, principal: Principal | None) -> str:
    """As users expect: their own setting, else this browser's pick, else its Accept-Language,
    else GRIDWATCH_LANGUAGE."""
    chosen = None
    if principal is not None:
        with request.app.state.db.session() as s:
            user = s.get(User, principal.username)
            chosen = user.language if user else None
    return negotiate(chosen, request.cookies.get(LANGUAGE_COOKIE), accept_language=request.headers.get("accept-language"),
                     default=request.app.state.settings.language)

# Row ids: bounded so that a huge number is a 422, not a database overflow (BIGINT is 63 bits).
MAX_ROW_ID = 2**62
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class Body(BaseModel):
    """A request body. No text in it may hold NUL, which PostgreSQL cannot store: a 422, not a 500."""

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise ValueError("text may not contain a NUL character (\\u0000)")
        return data


def service(request: Request) -> IncidentService:
    return request.app.state.service


class Page:
    """`limit`/`offset` query parameters, shared by every list."""

    def __init__(self, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10_000_000)):
        self.limit, self.offset = limit, offset


def paginate(session: Session, stmt, page: Page, to_item) -> dict[str, Any]:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = session.scalars(stmt.limit(page.limit).offset(page.offset)).all()
    return {"items": [to_item(r) for r in rows], "total": total, "limit": page.limit, "offset": page.offset}


def visible_filter(column, principal: Principal):
    """A WHERE clause limiting `column` (a grid id) to the principal's subtree."""
    if principal.visible_grids is None:
        return True
    clause = column.in_(sorted(principal.visible_grids))
    return or_(clause, column.is_(None)) if principal.visible(None) else clause


def incident_filter(principal: Principal):
    """Incidents the principal sees: in its subtree, or sent to a professional grid in it."""
    from gateway.db.models import Incident

    if principal.visible_grids is None:
        return True
    return or_(visible_filter(Incident.grid_id, principal),
               Incident.professional_grid_id.in_(sorted(principal.visible_grids)))


def parse_time(value: str | None, name: str) -> datetime | None:
    from gateway.incidents.errors import BadRequest

    if value is None or value == "":
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name}: {value!r} is not an ISO 8601 time") from None
    if dt.tzinfo is None:
        raise BadRequest(f"{name}: {value!r} needs a time zone (e.g. ending in Z)")
    return dt
