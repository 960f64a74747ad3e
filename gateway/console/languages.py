"""The console's language: `GET /api/i18n` gives the browser its language, time zone and the
catalogue's texts (the same gettext catalogue the server words its messages from), chosen as
users expect: the user's own setting, else the language picked on this browser (cookie
`gw_lang`, e.g. on the login page), else the browser's Accept-Language, else
`GRIDWATCH_LANGUAGE`. `PUT /api/me/language` stores a signed-in user's choice."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request, Response

from gateway.api.auth import AuthError, Principal, current_principal
from gateway.api.common import LANGUAGE_COOKIE as COOKIE
from gateway.api.common import Body, reader_language
from gateway.db.models import User
from gateway.i18n import LANGUAGES, catalogue

router = APIRouter(tags=["console"])
NAMES = {"zh-CN": "中文", "en": "English"}


class LanguageChoice(Body):
    language: Literal["zh-CN", "en"]


@router.get("/api/i18n", summary="The caller's language, time zone and the console's texts in it (no auth)")
def i18n(request: Request) -> dict:
    settings = request.app.state.settings
    try:
        principal: Principal | None = current_principal(request)
    except AuthError:
        principal = None
    lang = reader_language(request, principal)
    return {"language": lang, "timezone": settings.timezone, "messages": catalogue(lang),
            "languages": [{"code": code, "name": NAMES[code]} for code in LANGUAGES]}


@router.put("/api/me/language", summary="Store the signed-in user's language")
def set_language(body: LanguageChoice, request: Request, response: Response,
                 principal: Principal = Depends(current_principal)) -> dict:
    with request.app.state.db.session() as s:
        user = s.get(User, principal.username)
        if user is not None:  # (the admin token is nobody's account: its choice stays in the cookie)
            user.language = body.language
    response.set_cookie(COOKIE, body.language, max_age=365 * 86400, samesite="lax")
    return {"language": body.language}
