"""Users from the grids' people (for the demo and tests): each person becomes a user bound
to their grid, with a given password. Existing users keep their password."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import audit
from gateway.auth import hash_password
from gateway.db.models import Person, User

# Grid roles (engine) -> API roles: people in the field work their grid, offices operate.
ROLE_FOR_PERSON = {"grid_worker": "grid_worker", "grid_leader": "grid_worker", "professional": "grid_worker",
                   "community": "operator", "street": "operator"}


def seed_users(session: Session, password: str, now: datetime, actor: str = "seed") -> list[str]:
    """Create a user for every person without one; returns the new usernames."""
    created = []
    hashed = hash_password(password)  # one hash for all: scrypt is slow on purpose
    for p in session.scalars(select(Person).order_by(Person.grid_id, Person.position)):
        if session.get(User, p.username) is not None or p.username in created:
            continue
        session.add(User(username=p.username, display_name=p.display_name, role=ROLE_FOR_PERSON.get(p.role, "grid_worker"),
                         grid_id=p.grid_id, password_hash=hashed, active=True, created_at=now))
        audit.record(session, at=now, actor=actor, action="user.create", object_type="user", object_id=p.username,
                     grid_id=p.grid_id, reason="seeded from the grids' people")
        created.append(p.username)
    return created
