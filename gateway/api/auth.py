"""Who is calling: bearer tokens (header or the `gw_token` cookie), users with passwords,
roles, and the grid subtree a principal may see and act in."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fastapi import Depends, Request
from sqlalchemy import select

from gateway.db.models import ApiToken, User

ROLES = ("admin", "operator", "grid_worker", "integration", "edge", "open311")  # open311: files reports
# `edge` tokens only upload media; `integration` reads everything in its subtree.
READ_ROLES = ("admin", "operator", "grid_worker", "integration")
COOKIE = "gw_token"


class AuthError(Exception):
    """Raised to answer 401 (no or bad credentials) or 403 (not allowed)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Principal:
    username: str
    role: str
    grid_id: str | None  # None: the whole tree
    display_name: str = ""
    # grid_id -> may this principal see it; None (the unrouted queue) only at the top of the tree
    visible: Callable[[str | None], bool] = field(default=lambda _g: True, compare=False, repr=False)
    visible_grids: frozenset[str] | None = field(default=None, compare=False, repr=False)  # None: all

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def sees(self, incident) -> bool:
        """An incident is visible where it happened and to the professional grid it was sent to."""
        return self.visible(incident.grid_id) or bool(incident.professional_grid_id
                                                      and self.visible(incident.professional_grid_id))


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, salt, digest = stored.split("$")
    got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=2**14, r=8, p=1)
    return hmac.compare_digest(got.hex(), digest)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session, *, name: str, role: str, grid_id: str | None, username: str | None,
                now: datetime, ttl: timedelta | None) -> str:
    """A new random token; only its digest is stored, so it is shown once."""
    token = "gw_" + secrets.token_urlsafe(32)
    session.add(ApiToken(token_sha256=token_digest(token), name=name, username=username, role=role, grid_id=grid_id,
                         created_at=now, expires_at=now + ttl if ttl else None))
    return token


def make_principal(username: str, role: str, grid_id: str | None, grids, display_name: str = "") -> Principal:
    """Bind a principal to its subtree of `grids` (an engine GridSet)."""
    if grid_id is None:
        return Principal(username, role, None, display_name or username)
    subtree = frozenset(grids.subtree(grid_id)) if grids is not None else frozenset({grid_id})
    top = grids is not None and grids.get(grid_id) is not None and grids.get(grid_id).parent is None
    # The unrouted queue (grid None) belongs to the top of the tree: a street-level principal sees it.
    return Principal(username, role, grid_id, display_name or username,
                     visible=lambda g: (g in subtree) if g is not None else top, visible_grids=subtree)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.cookies.get(COOKIE) or None


def authenticate(request: Request, token: str | None) -> Principal:
    state = request.app.state
    if not token:
        raise AuthError(401, "unauthenticated", "a bearer token is required (Authorization: Bearer <token>)")
    grids = state.service.grids()
    admin = state.settings.admin_token
    if admin and hmac.compare_digest(token.encode(), admin.encode()):
        return make_principal("admin", "admin", None, grids)   # named by its user name: no English title in a Chinese top bar
    now = datetime.now(UTC)
    with state.db.session() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_sha256 == token_digest(token)))
        if row is None or row.revoked_at is not None or (row.expires_at and row.expires_at <= now):
            raise AuthError(401, "unauthenticated", "the token is unknown, expired or revoked")
        display = row.name
        if row.username:
            user = s.get(User, row.username)
            if user is None or not user.active:
                raise AuthError(401, "unauthenticated", f"user {row.username!r} is disabled")
            display = user.display_name
        return make_principal(row.username or row.name, row.role, row.grid_id, grids, display)


def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the authenticated caller (401 otherwise)."""
    cached = getattr(request.state, "principal", None)
    if cached is None:
        cached = authenticate(request, _bearer(request))
        request.state.principal = cached
    return cached


def require_role(*roles: str) -> Callable[..., Principal]:
    """FastAPI dependency factory: the caller must hold one of `roles` (403 otherwise)."""

    def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role not in roles:
            raise AuthError(403, "forbidden", f"role {principal.role!r} may not do this (needs {' or '.join(roles)})")
        return principal

    return dependency
