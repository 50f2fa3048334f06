"""Each paper session trades its own book: its capital and its own fills, never the trader's whole account.

The first tests play the reported case end to end (scripted bars, the SimBroker's next-bar fills, PostgreSQL):
shares bought by hand are never the session's to sell. The book tests below drive the ledger by hand (the
ManualBroker decides what is filled, partly filled or cancelled, and the fees)."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, select

from core.db.engine import make_engine, make_session_factory
from core.db.models import Position
from core.db.models import Signal as SignalRow
from core.domain.orders import OrderSide, OrderType
from core.domain.tickets import OrderTicket
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from core.paper import records
from core.paper.book import MANUAL, SessionBook, load_book, load_books
from core.paper.types import PaperSessionError
from core.strategy.api import Strategy
from tests.ledger.manual_broker import ManualBroker
from tests.paper.cross_strategy import Cross
from tests.paper.helpers import LIVE, T0, series

D = Decimal
_SECONDS = itertools.count(1)


class SeenCross(Cross):
    """The SMA template, remembering the account it was shown at each bar."""

    seen: list[dict[str, float]] = []

    def next(self, data):
        a = self.account
        SeenCross.seen.append({"cash": a.cash, "equity": a.equity, "position": a.position, "price": a.position_price})
        super().next(data)


class Flatten(Strategy):
    """Asks to be flat at every bar, whatever it holds."""

    def next(self, data):
        self.order_target(shares=0)


def held(db, user_id, symbol="ACME") -> Decimal:
    with db.session_factory() as s:
        qty = s.scalar(select(Position.quantity).where(Position.user_id == user_id, Position.symbol == symbol))
    return qty if qty is not None else D(0)


def signals(db, session_id) -> list[SignalRow]:
    with db.session_factory() as s:
        return list(s.scalars(select(SignalRow).where(SignalRow.session_id == session_id)
                              .order_by(SignalRow.bar_timestamp)))  # fmt: skip


@pytest.fixture
def bars_after_a_hand_buy(db, ledger, market):
    """A market buy of 10 ACME from the order ticket, filled at the open of the first live bar (94.5); returns
    the live bars still to come."""

    def buy(user_id):
        ledger.place_order(user_id, OrderTicket("ACME", OrderSide.BUY, D(10), OrderType.MARKET))
        first, *rest = series(LIVE[:10], 0, prev=94.5)
        market.feed(first)
        assert held(db, user_id) == 10
        return rest

    return buy


def test_a_session_does_not_sell_shares_bought_by_hand(db, manager, market, make_user, save, bars_after_a_hand_buy):
    alice = make_user("alice")
    rest = bars_after_a_hand_buy(alice)  # 10 ACME at 94.50: $99,055 of cash left
    SeenCross.seen.clear()
    info = manager.start(alice, save(alice).id, ["ACME"], builtin=SeenCross)
    assert info.initial_capital == D("99055")

    market.feed(rest[0])  # fast SMA below slow: the template's cross-down, which used to sell the hand's 10
    assert signals(db, info.id) == [] and held(db, alice) == 10
    seen = SeenCross.seen[-1]
    assert (seen["position"], seen["cash"], seen["equity"]) == (0.0, 99055.0, 99055.0)
    assert math.isnan(seen["price"])


def test_a_sessions_own_buy_then_sell_never_touches_the_manual_shares(
    db, manager, market, make_user, save, bars_after_a_hand_buy
):
    bob = make_user("bob")
    rest = bars_after_a_hand_buy(bob)
    SeenCross.seen.clear()
    info = manager.start(bob, save(bob).id, ["ACME"], builtin=SeenCross)

    market.feed(*rest[:3])  # crosses up at bar 2 (97): 10% of ITS equity, 102 shares, filled at bar 3's open
    assert held(db, bob) == 10 + 102
    assert SeenCross.seen[-1]["position"] == 102.0 and SeenCross.seen[-1]["price"] == 97.0
    market.feed(*rest[3:])  # crosses down at bar 8: sells its own 102 at bar 9's open (95)
    assert [(s.action, s.quantity, s.status) for s in signals(db, info.id)] == [
        ("BUY", D(102), "EXECUTED"), ("SELL", D(102), "EXECUTED"),
    ]  # fmt: skip
    assert held(db, bob) == 10
    assert manager.get(info.id, bob).pnl == D(102) * (95 - 97)


def test_a_target_of_zero_sends_nothing_when_the_session_holds_nothing(
    db, manager, market, make_user, save, bars_after_a_hand_buy
):
    cy = make_user("cyd")
    rest = bars_after_a_hand_buy(cy)
    info = manager.start(cy, save(cy, "Flatten").id, ["ACME"], builtin=Flatten)
    market.feed(*rest[:3])
    assert signals(db, info.id) == [] and held(db, cy) == 10


def test_two_sessions_on_one_symbol_keep_separate_positions_and_cash(db, ledger, manager, market, make_user, save):
    dee = make_user("dee")
    small = manager.start(dee, save(dee, "Small").id, ["ACME"], builtin=Cross, capital=D(30_000))
    large = manager.start(dee, save(dee, "Large").id, ["ACME"], builtin=Cross, capital=D(60_000))
    bars = series(LIVE[:10], 0, prev=94.5)

    market.feed(*bars[:6])  # both buy 10% of their own equity at 97
    books = load_books(db.session_factory, dee, ledger.last_price, [small.id, large.id])
    assert (books[small.id].qty("ACME"), books[small.id].cash) == (D(30), D(30_000) - 30 * D(97))
    assert (books[large.id].qty("ACME"), books[large.id].cash) == (D(61), D(60_000) - 61 * D(97))
    assert held(db, dee) == 91

    market.feed(*bars[6:])  # both sell what they bought, at 95
    books = load_books(db.session_factory, dee, ledger.last_price, [small.id, large.id])
    assert books[small.id].positions == () and books[small.id].pnl == 30 * D(95 - 97)
    assert books[large.id].positions == () and books[large.id].pnl == 61 * D(95 - 97)
    assert held(db, dee) == 0


def test_a_session_started_without_capital_gets_the_buying_power_no_running_session_holds(db, manager, make_user, save):
    eli = make_user("eli")
    first = manager.start(eli, save(eli, "First").id, ["ACME"], capital=D(25_000))
    second = manager.start(eli, save(eli, "Second").id, ["ACME"])
    assert (first.initial_capital, second.initial_capital) == (D(25_000), D(75_000))
    with pytest.raises(PaperSessionError, match="already held by your running sessions"):
        manager.start(eli, save(eli, "Third").id, ["ACME"])
    with pytest.raises(PaperSessionError, match="more than your buying power"):
        manager.start(eli, save(eli, "Fourth").id, ["ACME"], capital=D(200_000))
    manager.stop(first.id, eli)  # a stopped session holds no cash for trading any more
    assert manager.start(eli, save(eli, "Fifth").id, ["ACME"]).initial_capital == D(25_000)


# ---- the book, from the ledger's own rows -------------------------------------------------------------------


@pytest.fixture
def broker() -> ManualBroker:
    return ManualBroker()


@pytest.fixture
def hand_ledger(db, broker) -> Ledger:
    return Ledger(db.session_factory, broker, LastPrices({"AAPL": D(100)}))


@pytest.fixture
def started(db, save, clock):
    def start(user_id, name: str, capital: str):
        saved = save(user_id, name)
        return records.insert_session(
            db.session_factory, user_id=user_id, strategy_id=saved.id, strategy_version_id=None, symbols=["AAPL"],
            timeframe="1Min", parameters={}, initial_capital=D(capital), metadata={}, now=clock(),
            already_running="running",
        )  # fmt: skip

    return start


def fill(broker, placed, qty, price, fee="0"):
    """The broker fills ``placed`` a second after its previous fill (booking order = time order)."""
    event_ = broker.fill(placed.client_order_id, qty, price, fee=fee, deliver=False)
    broker.deliver(dataclasses.replace(event_, timestamp=T0 + timedelta(seconds=next(_SECONDS))))


def test_a_sessions_cash_falls_by_its_own_fills_cost_and_fees(db, hand_ledger, broker, make_user, started):
    fay = make_user("fay")
    session = started(fay, "Mine", "10000")
    hand_ledger.place_order(fay, OrderTicket("AAPL", OrderSide.BUY, D(20), OrderType.MARKET))  # by hand, unfilled
    book = load_book(db.session_factory, fay, session, hand_ledger.last_price)
    assert book == SessionBook(session, D(10_000), D(10_000))

    placed = hand_ledger.place_order(
        fay, OrderTicket("AAPL", OrderSide.BUY, D(10), OrderType.LIMIT, limit_price=D(100)), session_id=session
    )
    book = load_book(db.session_factory, fay, session, hand_ledger.last_price)
    assert (book.cash, book.reserved, book.available) == (D(10_000), D(1_000), D(9_000))

    fill(broker, placed, "4", "99", fee="1")  # partly filled
    book = load_book(db.session_factory, fay, session, hand_ledger.last_price)
    assert (book.cash, book.fees, book.qty("AAPL")) == (D(10_000) - 4 * D(99) - 1, D(1), D(4))
    assert book.reserved == D(1_000) - 4 * D(99) - 1
    broker.cancel(placed.client_order_id)  # the rest cancelled: only the reservation goes
    book = load_book(db.session_factory, fay, session, hand_ledger.last_price)
    assert (book.cash, book.reserved, book.qty("AAPL")) == (D(9_603), D(0), D(4))
    position = book.position("AAPL")
    assert position is not None and position.avg_entry_price == D(99)
    assert book.equity == D(9_603) + 4 * D(100) and book.pnl == D(3)  # marked at the last price, 100

    sold = hand_ledger.place_order(fay, OrderTicket("AAPL", OrderSide.SELL, D(4), OrderType.MARKET), session_id=session)
    assert load_book(db.session_factory, fay, session, hand_ledger.last_price).open_sell_qty == {"AAPL": D(4)}
    fill(broker, sold, "4", "101", fee="1")
    book = load_book(db.session_factory, fay, session, hand_ledger.last_price)
    assert (book.cash, book.positions, book.realized_pnl, book.fees) == (D(10_006), (), D(8), D(2))
    assert book.pnl == D(6) and book.fill_count == 2


def test_a_restarted_app_reads_the_same_book(db, hand_ledger, broker, make_user, started):
    gus = make_user("gus")
    mine, other = started(gus, "Mine", "5000"), started(gus, "Other", "7000")
    for session, qty in ((mine, "3"), (other, "5"), (None, "2")):
        placed = hand_ledger.place_order(gus, OrderTicket("AAPL", OrderSide.BUY, D(qty), OrderType.MARKET),
                                         session_id=session)  # fmt: skip
        fill(broker, placed, qty, "100", fee="0.5")
    before = load_books(db.session_factory, gus, hand_ledger.last_price)
    assert {k: b.qty("AAPL") for k, b in before.items()} == {MANUAL: D(2), mine: D(3), other: D(5)}

    engine = make_engine(db.engine.url.render_as_string(hide_password=False), pool_size=1, max_overflow=0)
    try:  # another process: a fresh engine and a fresh ledger (no cached state)
        fresh = make_session_factory(engine)
        again = Ledger(fresh, ManualBroker(), LastPrices({"AAPL": D(100)}))
        assert load_books(fresh, gus, again.last_price) == before
        assert load_book(fresh, gus, mine, again.last_price) == before[mine]
    finally:
        engine.dispose()


def test_a_book_is_read_in_one_query(db, hand_ledger, broker, make_user, started):
    hal = make_user("hal")
    session = started(hal, "Mine", "5000")
    ticket = OrderTicket("AAPL", OrderSide.BUY, D(3), OrderType.MARKET)
    placed = hand_ledger.place_order(hal, ticket, session_id=session)
    fill(broker, placed, "3", "100")
    statements: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        book = load_book(db.session_factory, hal, session, hand_ledger.last_price)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert book.qty("AAPL") == 3 and len(statements) == 1


def test_another_traders_session_has_no_book_here(db, hand_ledger, make_user, started):
    ian, jan = make_user("ian"), make_user("jan")
    session = started(ian, "Mine", "5000")
    assert load_book(db.session_factory, jan, session, hand_ledger.last_price).capital == 0
    assert load_books(db.session_factory, jan, hand_ledger.last_price, [session]) == {}


@pytest.fixture(autouse=True)
def _forget_what_was_seen() -> Iterator[None]:
    yield
    SeenCross.seen.clear()
