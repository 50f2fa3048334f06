"""``stratforge-db``: the club admin's schema commands for a shared database.

    stratforge-db upgrade   [--url URL]   migrate to this build's head revision
    stratforge-db downgrade REVISION [--url URL]
    stratforge-db current   [--url URL]
    stratforge-db roles     [--url URL]                 the club's roles (migration 0012) and which can log in
    stratforge-db password club|applicant [--password-stdin] [--url URL]

The URL defaults to STRATFORGE_DATABASE_URL. The embedded database needs none
of this: the app migrates it on start-up. ``upgrade`` creates the club's roles, so it
runs as the database's owner with CREATEROLE (or a superuser); so does ``password``,
which sets the password of the club service's role (``stratforge-club`` connects with it)
or of the applicants' role (the URL members sign up with). Only the SCRAM verifier,
computed here, reaches the server.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from core.config import DATABASE_URL_ENV
from core.db import migrate
from core.db.club_roles import GROUP_KINDS, group_role, role_prefix, scram_verifier
from core.db.engine import CONNECT_TIMEOUT_S, make_engine, mask_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stratforge-db", description="Schema commands for a shared database.")
    parser.add_argument("--url", default=os.environ.get(DATABASE_URL_ENV), help=f"default: ${DATABASE_URL_ENV}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("upgrade")
    down = sub.add_parser("downgrade")
    down.add_argument("revision")
    sub.add_parser("current")
    sub.add_parser("roles")
    password = sub.add_parser("password")
    password.add_argument("kind", choices=("club", "applicant"))
    password.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error(f"no database: pass --url or set {DATABASE_URL_ENV}")

    engine = make_engine(args.url, pool_size=1, max_overflow=0)
    shown = mask_url(str(engine.url.render_as_string(hide_password=False)))
    try:
        if args.command == "roles":
            print("\n".join(_roles(args.url)))
            return 0
        if args.command == "password":
            secret = _read_password(args.password_stdin)
            if not secret:
                print("stratforge-db: no password given", file=sys.stderr)
                return 1
            print(f"{shown}: password set for {_set_password(args.url, args.kind, secret)}")
            return 0
        if args.command == "upgrade":
            migrate.upgrade(engine)
        elif args.command == "downgrade":
            migrate.downgrade(engine, args.revision)
        print(f"{shown}: revision {migrate.current_revision(engine) or 'none'} (head {migrate.head_revision()})")
        return 0
    except OperationalError as exc:
        print(f"stratforge-db: cannot reach {shown}: {exc.orig}", file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"stratforge-db: {first}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


def _connect(url: str) -> psycopg.Connection:
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(plain, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)


def _roles(url: str) -> list[str]:
    with _connect(url) as conn:
        database = conn.info.dbname
        lines = []
        # Whether a password is set shows only in pg_authid, which only a superuser reads.
        secrets_visible = conn.execute("SELECT has_table_privilege('pg_authid', 'SELECT')").fetchone() == (True,)
        query = (
            "SELECT rolcanlogin, rolpassword IS NOT NULL FROM pg_authid WHERE rolname = %s"
            if secrets_visible
            else "SELECT rolcanlogin, NULL FROM pg_roles WHERE rolname = %s"
        )
        for kind in GROUP_KINDS:
            name = group_role(database, kind)
            row = conn.execute(query, (name,)).fetchone()
            if row is None:
                lines.append(f"{name}: missing (run `stratforge-db upgrade`)")
                continue
            can_login, has_password = row
            state = "login" if can_login else "group"
            if can_login and has_password is not None:
                state += ", password set" if has_password else ", no password yet"
            lines.append(f"{name}: {state}")
        members = conn.execute(
            "SELECT count(*) FROM pg_roles WHERE starts_with(rolname, %s)", (role_prefix(database) + "_u_",)
        ).fetchone()
        lines.append(f"member login roles: {members[0] if members else 0}")
        return lines


def _set_password(url: str, kind: str, secret: str) -> str:
    with _connect(url) as conn:
        name = group_role(conn.info.dbname, "club" if kind == "club" else "applicant")
        verifier = scram_verifier(conn, secret, name)
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(name), sql.Literal(verifier)))
        return name


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("Again: "):
        print("stratforge-db: the passwords differ", file=sys.stderr)
        return ""
    return first


if __name__ == "__main__":
    sys.exit(main())
