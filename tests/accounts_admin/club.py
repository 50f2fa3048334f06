"""A club on the test database, driven through the roles migration 0012 creates: the applicant's role files
sign-up requests, the admin's own login role manages members, a trader's role is what a member's app uses.

The test server trusts local connections, so a role's password is never checked on connecting; tests that care
about the password compare the role's stored SCRAM verifier with the password instead (``verifier_of``).
Roles belong to the server, not to the database: ``club`` drops the member roles a test created, so the next test
may reuse the names (the db fixture empties club_members, which would otherwise leave the roles orphaned).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from core.accounts.admin import ClubAdmin
from core.db.club_roles import group_role, role_prefix, scram_verifier, trader_role
from core.db.database import Database
from core.db.engine import make_engine, make_session_factory

PASSWORD = "Tr4ding-Pass-2026"


def verifier_matches(verifier: str, password: str) -> bool:
    """Whether a SCRAM-SHA-256 verifier (RFC 7677, as PostgreSQL stores it) was made from ``password``."""
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$", 1)
    iterations, salt = iterations_salt.split(":", 1)
    stored_key, server_key = keys.split(":", 1)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return (
        method == "SCRAM-SHA-256"
        and base64.b64encode(hashlib.sha256(client_key).digest()).decode() == stored_key
        and base64.b64encode(server).decode() == server_key
    )


@dataclass
class Club:
    """The test database seen as a club: its name, its owner's URL, and logins as its roles."""

    db: Database
    engines: list[Engine] = field(default_factory=list)

    @property
    def name(self) -> str:
        name = self.db.engine.url.database
        assert name is not None
        return name

    @property
    def owner(self) -> ClubAdmin:
        """The admin's operations as the database's owner (a solo app, or the admin running stratforge-admin as
        the owner)."""
        return ClubAdmin(self.db.session_factory)

    def url_as(self, role: str, password: str | None = None) -> str:
        url = self.db.engine.url.set(username=role, password=password)
        return url.render_as_string(hide_password=False)

    def libpq_url_as(self, role: str) -> str:
        return make_url(self.url_as(role)).set(drivername="postgresql").render_as_string(hide_password=False)

    def sessions_as(self, role: str) -> sessionmaker[Session]:
        engine = make_engine(self.url_as(role), pool_size=1, max_overflow=0)
        self.engines.append(engine)
        return make_session_factory(engine)

    def admin_as(self, username: str) -> ClubAdmin:
        """The admin's operations through the member ``username``'s own login role."""
        return ClubAdmin(self.sessions_as(trader_role(self.name, username)))

    def make_admin(self, username: str = "boss") -> ClubAdmin:
        """An admin member (added by the owner, with a login role) and ClubAdmin through that role."""
        self.owner.add(f"{username}@example.com", username, PASSWORD, "admin")
        return self.admin_as(username)

    def request_signup(self, username: str, password: str = PASSWORD, name: str = "") -> uuid.UUID:
        """File a sign-up request the way the app does: as the applicant role, sending only the verifier."""
        with psycopg.connect(self.libpq_url_as(group_role(self.name, "applicant")), connect_timeout=10) as conn:
            verifier = scram_verifier(conn, password, trader_role(self.name, username))
            conn.execute(
                "SELECT sf_request_signup(%s, %s, %s, %s)",
                (name or username.title(), f"{username}@example.com", username, verifier),
            )
        with self.db.engine.connect() as conn:
            return conn.execute(
                text("SELECT id FROM waitlist WHERE email = :e"), {"e": f"{username}@example.com"}
            ).scalar_one()

    def connect_as_member(self, username: str) -> psycopg.Connection:
        """A raw connection as the member's login role (what their app opens in a club)."""
        return psycopg.connect(self.libpq_url_as(trader_role(self.name, username)), connect_timeout=10)

    def stored_verifier(self, username: str) -> str | None:
        with self.db.engine.connect() as conn:
            return conn.execute(
                text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"), {"r": trader_role(self.name, username)}
            ).scalar()

    def role_flags(self, username: str) -> tuple[bool, list[str]]:
        """(can log in, the groups it is a member of) of the member's login role."""
        role = trader_role(self.name, username)
        with self.db.engine.connect() as conn:
            login = conn.execute(text("SELECT rolcanlogin FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
            groups = conn.execute(
                text(
                    "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                    "JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = :r ORDER BY 1"
                ),
                {"r": role},
            ).scalars()
            return bool(login), list(groups)

    def close(self) -> None:
        for engine in self.engines:
            engine.dispose()
        self.engines.clear()
        prefix = role_prefix(self.name)
        with self.db.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            roles = conn.execute(
                text("SELECT rolname FROM pg_roles WHERE starts_with(rolname, :p)"), {"p": f"{prefix}_u_"}
            ).scalars()
            for role in list(roles):
                conn.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"), {"r": role}
                )
                conn.execute(text(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)).as_string(None)))


@pytest.fixture
def club(db: Database) -> Iterator[Club]:
    c = Club(db)
    try:
        yield c
    finally:
        c.close()
