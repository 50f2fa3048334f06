"""The club's PostgreSQL roles, named after the club's database.

Roles belong to the whole server, not to one database, so one server can hold several clubs (and the test
suite's scratch databases) only if each club's roles carry a mark of their own: ``sf`` and six hex digits of the
MD5 of the database's name. Migration 0012 creates four group roles per club:

- ``<prefix>_trader``: every trader's login role is a member; row-level security shows it its own rows only;
- ``<prefix>_club``: the club service (the router) books fills, positions, cash and order status and answers
  the traders' order requests;
- ``<prefix>_admin``: the admin approves, disables and enables members, resets balances and prunes the audit trail;
- ``<prefix>_applicant``: may only file a sign-up request (the club's public URL names it).

A trader's login role is ``<prefix>_u_<username in lower case>`` (at most 61 characters, under PostgreSQL's 63).
The trader's password never leaves the trader's machine: the app sends PostgreSQL's SCRAM-SHA-256 verifier of it
(computed by libpq) with the sign-up request, and approval creates the role with that verifier.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import psycopg
    from sqlalchemy import Engine

GroupKind = Literal["trader", "club", "admin", "applicant"]
GROUP_KINDS: tuple[GroupKind, ...] = ("trader", "club", "admin", "applicant")
VERIFIER_PREFIX = "SCRAM-SHA-256$"


def role_prefix(database: str) -> str:
    """``sf`` + six hex digits of the database name's MD5 (the same as the migration's SQL computes)."""
    return "sf" + hashlib.md5(database.encode("utf-8")).hexdigest()[:6]


def group_role(database: str, kind: GroupKind) -> str:
    return f"{role_prefix(database)}_{kind}"


def trader_role(database: str, username: str) -> str:
    """The login role of the trader ``username`` in the club whose database is ``database``."""
    return f"{role_prefix(database)}_u_{username.lower()}"


def scram_verifier(conn: psycopg.Connection, password: str, role: str) -> str:
    """PostgreSQL's SCRAM-SHA-256 verifier of ``password``, computed here by libpq (never sent in clear)."""
    raw = conn.pgconn.encrypt_password(password.encode("utf-8"), role.encode("utf-8"), b"scram-sha-256")
    return raw.decode("ascii")


def drop_club_roles(conn: psycopg.Connection, database: str) -> list[str]:
    """Drop the roles of the club whose database ``database`` was dropped (scratch databases: roles outlive them).

    Call it after DROP DATABASE, on a connection to another database of the server (autocommit); returns the
    dropped names. A database copied from this one (its template) was migrated under this name, so it grants to the
    same roles: those stay until it is dropped too.
    """
    import psycopg
    from psycopg import sql

    prefix = role_prefix(database)
    names = [
        r[0]
        for r in conn.execute(
            "SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s) ORDER BY rolname DESC", (prefix + "_",)
        )
    ]
    dropped = []
    for name in names:  # members (…_u_…) sort after the groups, so DESC drops them first
        try:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        except psycopg.errors.DependentObjectsStillExist:
            continue  # a copy of the database (CREATE DATABASE ... TEMPLATE) still grants to it: it goes with that one
        dropped.append(name)
    return dropped


_MEMBER_SQL = "SELECT CASE WHEN has_function_privilege('sf_uid()', 'EXECUTE') THEN sf_uid() IS NOT NULL ELSE false END"


def connected_as_member(engine: Engine) -> bool:
    """Whether ``engine`` logs in as a club member's own role (row-level security applies to it).

    Such an app may not write orders or money: its orders go to the club service as requests, and it never
    competes to route, whatever keys the machine holds.
    """
    from sqlalchemy import text

    with engine.connect() as conn:
        return bool(conn.execute(text(_MEMBER_SQL)).scalar())
