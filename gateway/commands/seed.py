"""Users from the grids' people (for the demo and tests): each person becomes a user bound
to their grid, with a given password. Existing users keep their password."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.api.auth import hash_password
from gateway.db import audit
from gateway.db.models import Grid, Person, User

# Grid roles (engine) -> API roles: people in the field work their grid, offices operate.
ROLE_FOR_PERSON = {"grid_worker": "grid_worker", "grid_leader": "grid_worker", "professional": "grid_worker",
                   "community": "operator", "street": "operator"}


def seed_users(session: Session, password: str, now: datetime, actor: str = "seed") -> list[str]:
    """Create a user for every person without one; returns the new usernames."""
    created = []
    hashed = hash_password(password)  # one hash for all: scrypt is slow on purpose
    parents = dict(session.execute(select(Grid.id, Grid.parent)).all())
    people: dict[str, list[Person]] = {}
    for p in session.scalars(select(Person).order_by(Person.grid_id, Person.position)):
        people.setdefault(p.username, []).append(p)
    for username, rows in people.items():
        if session.get(User, username) is not None:
            continue
        # someone responsible for several grids (a grid leader) is bound to their common ancestor
        grid_id = _common_ancestor([r.grid_id for r in rows], parents)
        p = rows[0]
        session.add(User(username=username, display_name=p.display_name, role=ROLE_FOR_PERSON.get(p.role, "grid_worker"),
                         grid_id=grid_id, password_hash=hashed, active=True, created_at=now))
        audit.record(session, at=now, actor=actor, action="user.create", object_type="user", object_id=username,
                     grid_id=grid_id, reason="seeded from the grids' people")
        created.append(username)
    return created


def _common_ancestor(grid_ids: list[str], parents: dict[str, str | None]) -> str | None:
    def chain(g: str | None) -> list[str]:
        out = []
        while g is not None and g not in out:
            out.append(g)
            g = parents.get(g)
        return out

    common = chain(grid_ids[0])
    for g in grid_ids[1:]:
        ancestors = set(chain(g))
        common = [c for c in common if c in ancestors]
    return common[0] if common else None
