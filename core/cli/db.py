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

from core.cli.args import parse_strictly
from core.cli.errors import first_line, run_command
from core.config import DATABASE_URL_ENV
from core.db import migrate
from core.db.club_roles import GROUP_KINDS, group_role, role_prefix, scram_verifier
from core.db.engine import CONNECT_TIMEOUT_S, make_engine, mask_url

PROG = "stratforge-db"
RAW = argparse.RawDescriptionHelpFormatter
EXAMPLES = {
    "": """examples:
  STRATFORGE_DATABASE_URL=postgresql://owner:pw@host/stratforge {prog} upgrade
  {prog} current --url postgresql://owner:pw@host/stratforge
  {prog} password applicant""",
    "upgrade": "example:\n  {prog} upgrade --url postgresql://owner:pw@host/stratforge",
    "downgrade": "example:\n  {prog} downgrade 0011 --url postgresql://owner:pw@host/stratforge",
    "current": "example:\n  {prog} current --url postgresql://owner:pw@host/stratforge",
    "roles": "example:\n  {prog} roles   # each club role, whether it can log in and has a password",
    "password": """examples:
  {prog} password club                                # asks twice, without echo
  printf '%s\\n' "$SECRET" | {prog} password applicant --password-stdin""",
}


def main(argv: list[str] | None = None, *, prog: str = PROG) -> int:
    """``stratforge-db`` / ``stratforge db``: any error escaping the commands is one line (``--debug``: traceback)."""
    return run_command(lambda args: _main(args, prog), argv, prog)


def _parser(prog: str) -> argparse.ArgumentParser:
    def epilog(name: str) -> str:
        return EXAMPLES[name].format(prog=prog)

    parser = argparse.ArgumentParser(prog=prog, description="Schema commands for a shared database.",
                                     epilog=epilog(""), formatter_class=RAW)  # fmt: skip
    url = argparse.ArgumentParser(add_help=False)  # accepted before or after the command
    url.add_argument("--url", default=argparse.SUPPRESS, help=f"default: ${DATABASE_URL_ENV}")
    parser.add_argument("--url", default=os.environ.get(DATABASE_URL_ENV), help=f"default: ${DATABASE_URL_ENV}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text, epilog=epilog(name), formatter_class=RAW,
                              parents=[url])  # fmt: skip

    command("upgrade", "migrate to this build's head revision (creates the club's roles)")
    down = command("downgrade", "migrate down to REVISION")
    down.add_argument("revision")
    command("current", "print the database's revision and this build's head")
    command("roles", "the club's roles and which of them can log in")
    password = command("password", "set the password of the club service's or the applicants' role")
    password.add_argument("kind", choices=("club", "applicant"))
    password.add_argument("--password-stdin", action="store_true", default=False,
                          help="read the password from standard input")  # fmt: skip
    return parser


def _main(argv: list[str], prog: str) -> int:
    parser = _parser(prog)
    args = parse_strictly(parser, argv)
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
                print(f"{prog}: no password given", file=sys.stderr)
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
        print(f"{prog}: cannot reach {shown}: {first_line(exc.orig or exc)}", file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        print(f"{prog}: {first_line(exc)}", file=sys.stderr)
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
        print(f"{PROG}: the passwords differ", file=sys.stderr)
        return ""
    return first


if __name__ == "__main__":
    sys.exit(main())
