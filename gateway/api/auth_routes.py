"""Login, logout, who am I."""
from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from gateway.api.auth import (
    COOKIE,
    AuthError,
    Principal,
    _bearer,
    check_password,
    current_principal,
    hash_password,
    issue_token,
    token_digest,
)
from gateway.api.common import Body
from gateway.api.errors import ERROR_RESPONSES
from gateway.db import audit
from gateway.db.models import ApiToken, User

router = APIRouter(prefix="/api", tags=["auth"], responses=ERROR_RESPONSES)


_DUMMY_HASH = hash_password("no such user")


class Login(Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


def _user_dict(p_or_user) -> dict:
    if isinstance(p_or_user, Principal):
        return {"username": p_or_user.username, "display_name": p_or_user.display_name, "role": p_or_user.role,
                "grid_id": p_or_user.grid_id}
    u = p_or_user
    return {"username": u.username, "display_name": u.display_name, "role": u.role, "grid_id": u.grid_id}


@router.post("/auth/login", summary="Log in with a password; returns a token and sets the gw_token cookie")
def login(body: Login, request: Request, response: Response) -> dict:
    state = request.app.state
    now = state.service.clock()
    with state.db.session() as s:
        user = s.get(User, body.username)
        # an unknown user costs a hash check too, so timing does not tell which names exist
        stored = user.password_hash if user is not None else _DUMMY_HASH
        if not check_password(body.password, stored) or user is None or not user.active:
            raise AuthError(401, "unauthenticated", "wrong username or password")
        ttl = timedelta(hours=state.settings.token_ttl_hours)
        token = issue_token(s, name=f"login {user.username}", role=user.role, grid_id=user.grid_id,
                            username=user.username, now=now, ttl=ttl)
        audit.record(s, at=now, actor=user.username, action="auth.login", object_type="user", object_id=user.username,
                     grid_id=user.grid_id)
        out = {"token": token, "user": _user_dict(user)}
    response.set_cookie(COOKIE, token, max_age=int(ttl.total_seconds()), httponly=True, samesite="lax", path="/")
    return out


@router.post("/auth/logout", summary="Revoke the current token and clear the cookie")
def logout(request: Request, response: Response, principal: Principal = Depends(current_principal)) -> dict:
    token = _bearer(request)
    state = request.app.state
    now = state.service.clock()
    with state.db.session() as s:
        row = s.query(ApiToken).filter(ApiToken.token_sha256 == token_digest(token or "")).one_or_none()
        if row is not None and row.username:  # login tokens only; API tokens are revoked by an admin
            row.revoked_at = now
        audit.record(s, at=now, actor=principal.username, action="auth.logout", object_type="user",
                     object_id=principal.username, grid_id=principal.grid_id)
    response.delete_cookie(COOKIE, path="/")
    return {"ok": True}


@router.get("/me", summary="The caller")
def me(request: Request, principal: Principal = Depends(current_principal)) -> dict:
    # the grid's name too: the console's top bar names the user's grid rather than showing its id
    grid = request.app.state.service.grids().get(principal.grid_id) if principal.grid_id else None
    return {**_user_dict(principal), "grid_name": grid.name if grid is not None else None}
