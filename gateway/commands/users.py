"""`python -m gateway users add|list|reset-password`: the people who sign in to the console.

A password never goes on the command line (every user of the machine sees it in `ps`, and the
shell keeps it in its history): it is read from GRIDWATCH_USER_PASSWORD, else asked twice at
the terminal. `import-grids --seed-users` reads the seeded users' password the same way."""
from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import UTC, datetime
from typing import get_args

from sqlalchemy import select, update

from gateway.api.admin import Role
from gateway.api.auth import hash_password
from gateway.config import Settings, add_config_argument
from gateway.db import Database, audit
from gateway.db.models import ApiToken, Grid, User

PASSWORD_ENV = "GRIDWATCH_USER_PASSWORD"
MIN_PASSWORD = 8
ROLES = get_args(Role)


class PasswordError(Exception):
    pass


def read_password(who: str) -> str:
    """GRIDWATCH_USER_PASSWORD, else typed twice at the terminal (not echoed)."""
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        if not sys.stdin.isatty():
            raise PasswordError(f"no password for {who}: set {PASSWORD_ENV}, or run this in a terminal to be asked")
        password = getpass.getpass(f"password for {who}: ")
        if getpass.getpass("the same again: ") != password:
            raise PasswordError("the two passwords differ")
    if len(password) < MIN_PASSWORD:
        raise PasswordError(f"the password must have at least {MIN_PASSWORD} characters")
    return password


def refuse_password_argument(p: argparse.ArgumentParser) -> None:
    """`--password` is still understood, only to say where a password goes instead."""
    p.add_argument("--password", help=argparse.SUPPRESS)


def password_argument_error(command: str) -> str:
    return (f"{command}: a password on the command line is visible to every user of this machine; "
            f"set {PASSWORD_ENV} or leave it out to be asked")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_argument(p)
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="create a user (password: GRIDWATCH_USER_PASSWORD or the prompt)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--grid", help="the grid the user is bound to (default: the whole tree)")
    add.add_argument("--name", help="display name (default: the username)")
    add.add_argument("--if-missing", action="store_true", help="do nothing when the user exists (for deployments)")
    sub.add_parser("list", help="the users, their role and grid")
    reset = sub.add_parser("reset-password", help="set a new password; the user's sessions end")
    reset.add_argument("username")
    for q in (add, reset):
        refuse_password_argument(q)


def main(args: argparse.Namespace) -> int:
    if getattr(args, "password", None) is not None:
        print(password_argument_error(f"users {args.action}"), file=sys.stderr)
        return 2
    db = Database(Settings.load(args.config).db_url)
    try:
        db.upgrade()
        return {"add": _add, "list": _list, "reset-password": _reset}[args.action](db, args)
    except PasswordError as e:
        print(f"users {args.action}: {e}", file=sys.stderr)
        return 2
    finally:
        db.dispose()


def _add(db: Database, args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    with db.session() as s:
        if s.get(User, args.username) is not None:
            if args.if_missing:
                print(f"user {args.username} exists; unchanged")
                return 0
            print(f"users add: user {args.username!r} exists (reset-password sets a new password)", file=sys.stderr)
            return 1
        if args.grid is not None and s.get(Grid, args.grid) is None:
            print(f"users add: grid {args.grid!r} does not exist (import the grids first)", file=sys.stderr)
            return 1
    password = read_password(args.username)
    with db.session() as s:
        s.add(User(username=args.username, display_name=args.name or args.username, role=args.role,
                   grid_id=args.grid, password_hash=hash_password(password), active=True, created_at=now))
        audit.record(s, at=now, actor="cli", action="user.create", object_type="user", object_id=args.username,
                     grid_id=args.grid, reason="gateway users add")
    print(f"user {args.username} added: {args.role} in {args.grid or 'the whole tree'}")
    return 0


def _list(db: Database, _args: argparse.Namespace) -> int:
    with db.session() as s:
        rows = [(u.username, u.role, u.grid_id or "(all)", "active" if u.active else "inactive", u.display_name)
                for u in s.scalars(select(User).order_by(User.username))]
    if not rows:
        print("no users (add one: gateway users add NAME --role admin)")
        return 0
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) + "  " + r[4])
    return 0


def _reset(db: Database, args: argparse.Namespace) -> int:
    with db.session() as s:
        if s.get(User, args.username) is None:
            print(f"users reset-password: no user {args.username!r}", file=sys.stderr)
            return 1
    password = read_password(args.username)
    now = datetime.now(UTC)
    with db.session() as s:
        user = s.get(User, args.username)
        assert user is not None  # checked above
        user.password_hash = hash_password(password)
        ended = len(s.execute(update(ApiToken).where(ApiToken.username == args.username, ApiToken.revoked_at.is_(None))
                              .values(revoked_at=now).returning(ApiToken.id)).all())
        audit.record(s, at=now, actor="cli", action="user.reset_password", object_type="user",
                     object_id=args.username, reason="gateway users reset-password")
    print(f"password of {args.username} reset; {ended} session(s) ended")
    return 0
