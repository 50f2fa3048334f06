"""In a club each trader syncs as their own database role: row-level security lets a sync write only that trader's
rows, and another trader neither reads them nor writes into them (migration 0012's ``trader_import`` and
``trader_own`` policies), through the service or with ``psql`` and their own credentials."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from core.accounts import AccountService
from core.db.club_roles import scram_verifier, trader_role
from core.db.database import Database
from core.db.engine import make_engine, make_session_factory
from core.db.models import BrokerConnection, Fill
from core.journal.errors import NotFound
from core.journal.synced_fills import SyncedTrade, book_synced_fills
from core.services.brokerage_sync import BrokerageError
from tests.pg import libpq_url
from tests.snaptrade.conftest import PASSWORD, make_service
from tests.snaptrade.helpers import linked_with_trades

INSUFFICIENT_PRIVILEGE = "42501"


@dataclass
class Member:
    user_id: uuid.UUID
    role: str
    url: str
    engine: Engine
    sessions: sessionmaker[Session]

    def psql(self) -> psycopg.Connection:
        return psycopg.connect(libpq_url(self.url), autocommit=True, connect_timeout=10)


@pytest.fixture
def members(db: Database, accounts: AccountService) -> Iterator[dict[str, Member]]:
    """alice and bob, approved as the admin approves a member: each logs in as their own role."""
    database = db.engine.url.database
    assert database is not None
    made: dict[str, Member] = {}
    try:
        for name in ("alice", "bob"):
            username = f"{name}{uuid.uuid4().hex[:6]}"
            user = accounts.sign_up(f"{username}@example.com", username, PASSWORD)
            role = trader_role(database, username)
            admin_url = libpq_url(db.engine.url.render_as_string(hide_password=False))
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
                conn.execute("SELECT sf_admin_grant_login(%s, %s)", (user.id, scram_verifier(conn, PASSWORD, role)))
            url = db.engine.url.set(username=role, password=None).render_as_string(hide_password=False)
            engine = make_engine(url, pool_size=2, max_overflow=2)
            made[name] = Member(user.id, role, url, engine, make_session_factory(engine))
        yield made
    finally:
        for member in made.values():
            member.engine.dispose()


def test_a_members_sync_writes_her_rows_and_another_member_neither_sees_nor_writes_them(standin, members):
    alice, bob = members["alice"], members["bob"]
    alices_app = make_service(alice.sessions, standin)  # each app on its member's own role
    bobs_app = make_service(bob.sessions, standin)
    linked_with_trades(alices_app, standin, alice.user_id)

    assert alices_app.sync(alice.user_id).new == 2  # fills, campaigns and the snapshot, all as her role

    with bob.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Fill)) == 0
        assert s.scalar(select(func.count()).select_from(BrokerConnection)) == 0
    assert not bobs_app.overview(alice.user_id).linked  # her link is invisible to his role
    with pytest.raises(BrokerageError, match="not linked"):
        bobs_app.sync(alice.user_id)
    with alice.sessions() as s:
        her_link = s.scalars(select(BrokerConnection.id)).one()
    trade = SyncedTrade("acc", "forged-1", "AAPL", "buy", Decimal(1), Decimal(1), Decimal(0),
                        datetime(2026, 3, 2, 15, tzinfo=UTC))  # fmt: skip
    with pytest.raises(NotFound):  # his booking into her link finds no such link
        book_synced_fills(bob.sessions, bob.user_id, her_link, [trade])
    with pytest.raises(NotFound):
        book_synced_fills(bob.sessions, alice.user_id, her_link, [trade])


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO fills (id, user_id, execution_id, symbol, side, quantity, price, executed_at, source, "
        "broker_connection_id) VALUES (gen_random_uuid(), %(bob)s, 'x:1', 'AAPL', 'buy', 1, 1, now(), "
        "'broker_synced', %(link)s)",
        "INSERT INTO fills (id, user_id, execution_id, symbol, side, quantity, price, executed_at, source) "
        "VALUES (gen_random_uuid(), %(alice)s, 'x:2', 'AAPL', 'buy', 1, 1, now(), 'broker_synced')",
        "UPDATE broker_connections SET meta = '{}' WHERE id = %(link)s",
    ],
    ids=["a-fill-naming-her-link", "a-fill-in-her-name", "her-snapshot"],
)
def test_with_his_own_credentials_he_cannot_write_into_her_brokerage_rows(standin, members, statement):
    alice, bob = members["alice"], members["bob"]
    alices_app = make_service(alice.sessions, standin)
    linked_with_trades(alices_app, standin, alice.user_id)
    alices_app.sync(alice.user_id)
    with alice.sessions() as s:
        her_link = s.scalars(select(BrokerConnection.id)).one()
        meta_before = s.scalars(select(BrokerConnection.meta)).one()

    with bob.psql() as conn:
        try:
            touched = conn.execute(statement, {"bob": bob.user_id, "alice": alice.user_id, "link": her_link}).rowcount
        except psycopg.Error as exc:
            assert exc.sqlstate == INSUFFICIENT_PRIVILEGE
        else:
            assert touched == 0  # an UPDATE of a row his role cannot see touches nothing
        assert conn.execute("SELECT count(*) FROM broker_connections").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM fills").fetchone() == (0,)
    with alice.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Fill)) == 2
        assert s.scalars(select(BrokerConnection.meta)).one() == meta_before
