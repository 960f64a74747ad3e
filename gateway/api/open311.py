"""Residents' reports over Open311 GeoReport v2 (wiki.open311.org/GeoReport_v2), the API that
FixMyStreet and city 311 systems speak, so an existing client works unchanged:
  GET  /open311/v2/services.{json|xml}            the categories people can report
  GET  /open311/v2/services/{code}.{json|xml}     a service definition (no extra attributes)
  POST /open311/v2/requests.{json|xml}            a report (form fields, `api_key`; a photo as the
                                                  multipart file `media`, or `media_url`): an incident
  GET  /open311/v2/requests.{json|xml}            reports, by id list, service, time (the last 90 days
                                                  unless given), status; page, page_size
  GET  /open311/v2/requests/{id}.{json|xml}       one report
The key is the Open311 `api_key` (or a bearer token): any reader may read (what its grids
allow); only the `open311` role (and admins, operators) may post. Status: `open` while the case
runs, `closed` once verified, closed or dismissed. Errors are the spec's list of {code,
description}. The reporter's contact details are stored apart and never appear here."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select

from gateway.api.auth import READ_ROLES, AuthError, Principal, authenticate
from gateway.api.common import MAX_ROW_ID
from gateway.db.models import Incident, IncidentEvent, Report
from gateway.engine.categories import TYPE_PREFIX
from gateway.i18n import negotiate, t
from gateway.incidents import categories
from gateway.incidents.errors import BadRequest
from gateway.incidents.reports import REPORTER_FIELDS, NewReport, file_report
from gateway.incidents.state import iso
from gateway.media.photos import PhotoError, clean_photo
from gateway.media.service import media_key, store_bytes

router = APIRouter(prefix="/open311/v2", tags=["open311"])
POST_ROLES = ("admin", "operator", "open311")
CLOSED = ("verified", "closed", "dismissed")
FORMATS = ("json", "xml")
PAGE_MAX = 1000  # the spec's "at least 1000"; `page`/`page_size` page on (an extension, as Chicago's 311 has)
RANGE_MAX = timedelta(days=90)


class Open311Error(Exception):
    def __init__(self, code: int, description: str):
        super().__init__(description)
        self.code, self.description = code, description


def install(app: Any) -> None:
    @app.exception_handler(Open311Error)
    async def _error(request: Request, exc: Open311Error) -> Response:
        return _render([{"code": exc.code, "description": exc.description}], _fmt(request.url.path), "errors",
                       "error", status=exc.code)


def _fmt(path: str) -> str:
    ext = path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
    return ext if ext in FORMATS else "json"


def _render(items: list[dict[str, Any]] | dict[str, Any], fmt: str, root: str, item: str, status: int = 200) -> Response:
    if fmt == "json":
        return JSONResponse(items, status_code=status)
    top = ET.Element(root)
    for obj in items if isinstance(items, list) else [items]:
        _xml(ET.SubElement(top, item), obj)
    body = b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8", xml_declaration=False)
    return Response(body, status_code=status, media_type="text/xml; charset=utf-8")


def _xml(el: ET.Element, obj: dict[str, Any]) -> None:
    for k, v in obj.items():
        if isinstance(v, list):  # e.g. a service definition's attributes
            holder = ET.SubElement(el, k)
            for sub in v:
                _xml(ET.SubElement(holder, k.rstrip("s")), sub)
        else:
            ET.SubElement(el, k).text = "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Error(404, f"format {fmt!r} is not supported (json, xml)")
    return fmt


def _principal(request: Request, api_key: str | None, roles: tuple[str, ...]) -> Principal:
    header = request.headers.get("authorization", "")
    token = api_key or (header[7:].strip() if header.lower().startswith("bearer ") else None)
    try:
        principal = authenticate(request, token)
    except AuthError:
        raise Open311Error(403, "api_key is missing or not valid") from None
    if principal.role not in roles:
        raise Open311Error(403, f"api_key of role {principal.role!r} may not do this (needs {' or '.join(roles)})")
    return principal


def _lang(request: Request) -> str:
    return negotiate(accept_language=request.headers.get("accept-language"), default=request.app.state.settings.language)


def _categories(request: Request) -> dict[str, Any]:
    return categories.in_force(request.app.state.service.rules)


def _service(item: dict[str, str]) -> dict[str, Any]:
    return {"service_code": item["code"], "service_name": item["name"], "description": item["name"], "metadata": False,
            "type": "realtime", "keywords": item["code"], "group": item["group"]}


@router.get("/services.{fmt}", summary="Open311: the services (report categories)")
def services(fmt: str, request: Request) -> Response:
    items = categories.describe(request.app.state.service.rules, _lang(request))
    return _render([_service(i) for i in items], _check_format(fmt), "services", "service")


@router.get("/services/{code}.{fmt}", summary="Open311: a service definition")
def service_definition(code: str, fmt: str, request: Request) -> Response:
    _check_format(fmt)
    if code not in _categories(request):
        raise Open311Error(404, f"service_code {code!r} not found")
    return _render({"service_code": code, "attributes": []}, fmt, "service_definition", "service_definition")


def _float(form: Any, name: str) -> float | None:
    raw = form.get(name)
    if raw in (None, ""):
        return None
    try:
        return float(raw)
    except ValueError:
        raise Open311Error(400, f"{name} must be a number, not {raw!r}") from None


@router.post("/requests.{fmt}", summary="Open311: report a problem (form fields as the spec lists them)")
async def create_request(fmt: str, request: Request) -> Response:
    _check_format(fmt)
    form = await request.form()
    key = form.get("api_key") or request.query_params.get("api_key")
    principal = _principal(request, key if isinstance(key, str) else None, POST_ROLES)
    code = str(form.get("service_code") or "")
    if not code:
        raise Open311Error(400, "service_code was not provided")
    category = _categories(request).get(code)
    if category is None:
        raise Open311Error(404, f"service_code {code!r} not found")
    lat, lon = _float(form, "lat"), _float(form, "long")
    address = str(form.get("address_string") or form.get("address_id") or "") or None
    if (lat is None) != (lon is None) or (lat is None and not address):
        raise Open311Error(400, "a location is required: lat and long, or address_string")
    media_url = form.get("media_url")
    media_url = media_url if isinstance(media_url, str) and media_url else None
    if media_url and not media_url.startswith(("http://", "https://")):
        raise Open311Error(400, "media_url must be an http(s) URL")
    upload = form.get("media")  # an extension many clients use: the photo itself, multipart
    photo = None
    if upload is not None and not isinstance(upload, str):
        try:
            photo = clean_photo(await upload.read())
        except PhotoError as e:
            raise Open311Error(400, f"media: {e}") from None
    description = str(form.get("description") or "").strip()[:4000]
    if "\x00" in description or "\x00" in (address or ""):
        raise Open311Error(400, "text may not contain NUL characters")
    report = NewReport(category=code, description=description or categories.name(category, "zh-CN"), lat=lat, lon=lon,
                       address=address, media_url=media_url, channel="open311",
                       reporter={k: str(form.get(k) or "")[:200] for k in REPORTER_FIELDS})
    svc = request.app.state.service
    now = svc.clock()
    try:
        with svc.db.session() as s:
            inc = file_report(svc, s, report, actor=f"open311:{principal.username}", now=now)
            inc_id = inc.id
            if photo is not None:  # stored without EXIF; media_url then points at it
                row = store_bytes(s, svc.media, photo.data, photo.content_type, kind="photo", now=now,
                                  incident_id=inc_id)
                rep = s.get(Report, inc_id)
                if rep is not None and not rep.media_url:
                    rep.media_url = f"{request.base_url}api/media/{media_key(row)}"
    except BadRequest as e:
        raise Open311Error(400, str(e)) from None
    notice = t(_lang(request), "Received: it goes to the grid worker responsible for the place.")
    return _render([{"service_request_id": str(inc_id), "service_notice": notice, "account_id": None}], fmt,
                   "service_requests", "request")


def _request_dict(inc: Incident, rep: Report, updated: datetime | None, notes: str | None, lang: str,
                  known: dict[str, Any]) -> dict[str, Any]:
    loc = inc.location or {}
    category = known.get(rep.service_code)
    return {
        "service_request_id": str(inc.id), "status": "closed" if inc.status in CLOSED else "open",
        "status_notes": notes, "service_name": categories.name(category, lang) if category else rep.service_code,
        "service_code": rep.service_code, "description": rep.description, "agency_responsible": inc.owner_grid_id,
        "service_notice": None, "requested_datetime": iso(inc.opened_at), "updated_datetime": iso(updated or inc.opened_at),
        "expected_datetime": iso(inc.due_at) if inc.status not in CLOSED else None, "address": rep.address,
        "address_id": None, "zipcode": None, "lat": loc.get("lat"), "long": loc.get("lon"), "media_url": rep.media_url,
    }


def _find(request: Request, principal: Principal, ids: list[int] | None, code: str | None, status: str | None,
          start: datetime | None, end: datetime | None, page: int = 1, page_size: int = PAGE_MAX) -> list[dict[str, Any]]:
    svc, lang = request.app.state.service, _lang(request)
    known = _categories(request)
    with svc.db.session() as s:
        q = (select(Incident, Report).join(Report, Report.incident_id == Incident.id)
             .where(Incident.type.startswith(TYPE_PREFIX)).order_by(Incident.id.desc()))
        if ids is not None:
            q = q.where(Incident.id.in_(ids))
        if code:
            q = q.where(Report.service_code == code)
        if status == "open":
            q = q.where(Incident.status.not_in(CLOSED))
        elif status == "closed":
            q = q.where(Incident.status.in_(CLOSED))
        if start:
            q = q.where(Incident.opened_at >= start)
        if end:
            q = q.where(Incident.opened_at <= end)
        visible = [(inc, rep) for inc, rep in s.execute(q).all() if principal.sees(inc)]
        rows = visible[(page - 1) * page_size:page * page_size]
        last: dict[int, tuple[datetime, str | None]] = {}
        if rows:
            for ev in s.scalars(select(IncidentEvent).where(IncidentEvent.incident_id.in_([i.id for i, _ in rows]))
                                .order_by(IncidentEvent.id)):
                prev = last.get(ev.incident_id, (ev.at, None))
                last[ev.incident_id] = (ev.at, ev.note or prev[1])
        out = []
        for inc, rep in rows:
            updated, notes = last.get(inc.id, (None, None))
            out.append(_request_dict(inc, rep, updated, notes, lang, known))
        return out


def _int(value: str | None, name: str, low: int, high: int, default: int) -> int:
    if value in (None, ""):
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise Open311Error(400, f"{name} must be a whole number from {low} to {high}, not {value!r}")
    return int(value)


def _range(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    if start and end and end - start > RANGE_MAX:
        raise Open311Error(400, "start_date to end_date may not span more than 90 days")
    end = end or (start + RANGE_MAX if start else now)
    return start or end - RANGE_MAX, end


def _time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} must be an ISO 8601 date-time, not {value!r}") from None
    if dt.tzinfo is None:
        raise Open311Error(400, f"{name} needs a time zone (Z or +HH:MM)")
    return dt


@router.get("/requests.{fmt}", summary="Open311: reports (service_request_id list, service_code, start_date, "
                                       "end_date, status)")
def list_requests(fmt: str, request: Request, service_request_id: str | None = None, service_code: str | None = None,
                  start_date: str | None = None, end_date: str | None = None, status: str | None = None,
                  page: str | None = None, page_size: str | None = None, api_key: str | None = None) -> Response:
    _check_format(fmt)
    principal = _principal(request, api_key, (*READ_ROLES, "open311"))
    number, size = _int(page, "page", 1, MAX_ROW_ID, 1), _int(page_size, "page_size", 1, PAGE_MAX, PAGE_MAX)
    ids = None
    if service_request_id:
        try:
            ids = [int(x) for x in service_request_id.split(",") if x.strip()]
        except ValueError:
            raise Open311Error(400, "service_request_id must be a comma-separated list of ids") from None
        if any(not 0 < i <= MAX_ROW_ID for i in ids):
            raise Open311Error(400, "service_request_id out of range")
    if status not in (None, "", "open", "closed"):
        raise Open311Error(400, "status must be open or closed")
    start, end = _time(start_date, "start_date"), _time(end_date, "end_date")
    if ids is None:  # the spec: a date range defaults to the last 90 days and spans at most 90
        start, end = _range(start, end, request.app.state.service.clock())
    found = _find(request, principal, ids, service_code, status or None, start, end, number, size)
    return _render(found, fmt, "service_requests", "request")


@router.get("/requests/{request_id}.{fmt}", summary="Open311: one report")
def get_request(request_id: str, fmt: str, request: Request, api_key: str | None = None) -> Response:
    _check_format(fmt)
    principal = _principal(request, api_key, (*READ_ROLES, "open311"))
    if not request_id.isdigit() or not 0 < int(request_id) <= MAX_ROW_ID:
        raise Open311Error(404, f"service_request_id {request_id!r} not found")
    found = _find(request, principal, [int(request_id)], None, None, None, None)
    if not found:
        raise Open311Error(404, f"service_request_id {request_id!r} not found")
    return _render(found, fmt, "service_requests", "request")
