"""In a club, the link services run as the member's own database role: row-level security is the last word.

Alice links her account, logs in, places a confirmed order and her fill is booked, all as her role (the policies:
``broker_connections`` trader-own, ``fills.trader_import``). Bob, with his own role, cannot see her link even when
he names her user id and the link's id (the service's own filters bypassed), nor book a fill into her journal.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from core.accounts.credential_vault import CredentialVault, KeyringKeySource
from core.db.engine import make_engine
from core.domain.orders import OrderEvent, OrderEventType
from core.services.broker_accounts import BrokerAccounts, LinkNotFound
from core.services.real_money_orders import RealMoneyOrders, RealOrderTicket
from tests.broker_accounts.conftest import SESSION_DAY, adapters_for, kite_fields
from tests.broker_accounts.standin import API_KEY, GOOD_TOKEN, SimMarket
from tests.security.conftest import Club, club  # noqa: F401 (the club database, its members' roles)

LABEL = "Kite (RLS test)"


@pytest.fixture
def as_member(club: Club) -> Iterator[dict[str, sessionmaker[Session]]]:  # noqa: F811
    engines = {name: make_engine(club.url(b.role), pool_size=1, max_overflow=0) for name, b in
               (("alice", club.alice), ("bob", club.bob))}  # fmt: skip
    try:
        yield {name: sessionmaker(engine, expire_on_commit=False) for name, engine in engines.items()}
    finally:
        for engine in engines.values():
            engine.dispose()
        with club.superuser() as su:  # the shared club database goes back to its seeded rows
            su.execute("DELETE FROM fills WHERE source = 'broker_synced' AND broker = 'zerodha'")
            su.execute("DELETE FROM broker_connections WHERE label = %s", (LABEL,))


def services(sessions: sessionmaker[Session], market: SimMarket) -> tuple[BrokerAccounts, RealMoneyOrders]:
    links = BrokerAccounts(
        sessions, CredentialVault(KeyringKeySource()), adapters=adapters_for(market), today=lambda: SESSION_DAY
    )
    return links, RealMoneyOrders(sessions, links)


def test_a_member_links_trades_and_books_fills_as_her_own_role_and_no_one_else_reaches_them(
    club: Club,  # noqa: F811
    as_member: dict[str, sessionmaker[Session]],
) -> None:
    market = SimMarket()
    alice, bob = club.alice.user_id, club.bob.user_id
    links, orders = services(as_member["alice"], market)
    try:
        link = links.add(alice, "zerodha", LABEL, kite_fields()).id
        links.log_in(alice, link, {"request_token": GOOD_TOKEN})
        ticket = RealOrderTicket.parse("NSE:INFY", "buy", "2", "limit", limit_price="1500")
        orders.place(orders.preview(alice, link, ticket), LABEL)
        seen: list[OrderEvent] = []
        market.sim(API_KEY).add_event_handler(seen.append)
        market.bar(API_KEY, "NSE:INFY", "1500")
        fill = next(e for e in seen if e.type is OrderEventType.FILL)
        assert orders.book_fill(alice, link, "zerodha", fill) is False  # booked once already, as alice's role
    finally:
        orders.close()

    bobs_links, bobs_orders = services(as_member["bob"], market)
    assert [a.label for a in bobs_links.list(alice)] == []  # her id named: row-level security still hides it
    for attempt in (
        lambda: bobs_links.open(alice, link),
        lambda: bobs_links.open(bob, link),
        lambda: bobs_links.remove(alice, link),
    ):
        with pytest.raises(LinkNotFound):
            attempt()
    with pytest.raises(DBAPIError, match="row-level security"):
        bobs_orders.book_fill(alice, link, "zerodha", _another_execution(fill))
    with club.superuser() as su:
        rows = su.execute(
            "SELECT user_id, quantity, price FROM fills WHERE broker_connection_id = %s", (link,)
        ).fetchall()
    assert rows == [(alice, Decimal("2"), Decimal("1500"))]

    links.remove(alice, link)  # her role unlinks; the fill stays in her journal, no longer attributed
    with club.superuser() as su:
        kept = su.execute("SELECT broker_connection_id FROM fills WHERE broker = 'zerodha'").fetchall()
    assert kept == [(None,)]


def _another_execution(fill: OrderEvent) -> OrderEvent:
    return dataclasses.replace(fill, execution_id=f"forged-{uuid.uuid4().hex}")
