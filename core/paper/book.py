"""A paper session's own book: the capital it was given and what its own fills did with it.

A session trades inside the trader's one virtual account, next to manual orders and other sessions. Its strategy
must see only its own money and shares, as it would in a backtest, or it sells shares bought by hand and sizes
from cash that is not its own. So the book is derived, never stored: from the session's capital
(``trading_sessions.initial_capital``) and the ledger's fills and open orders that carry its ``session_id``
(bracket legs inherit their entry's). A restarted app, another client or the portfolio panel therefore read the
same book, partial fills count as they are booked, and a cancel changes nothing but the released reservation.

Arithmetic is the ledger's (``sf_apply_event``): a fill's notional is rounded to the cent's 6 decimals, a sell
removes cost at the book's average cost (all of it when the book's shares are sold out), fees come out of cash.

* ``cash`` = capital - what its buys cost + what its sells brought - its fees (reservations not taken off, as the
  backtester's cash; ``available`` takes its own open buy orders' reservations off, for sizing);
* a position's ``qty``/``avg_entry_price`` are its own net shares and average entry;
* ``equity`` = cash + its positions at the latest price (at cost when none is known yet); ``pnl`` = equity -
  capital.

Fills with no session (``session_id IS NULL``) form the trader's manual book the same way (capital 0).

One statement reads everything a book needs (``load_books``): a worker reads its book once per decision.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Numeric, String, bindparam, cast, literal, null, select, union_all
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import Fill, Order, TradingSession
from core.domain.money import money
from core.domain.orders import OPEN_LEDGER_STATUSES

ZERO = Decimal(0)
PriceOf = Callable[[str], Decimal | None]
MANUAL: None = None  # the key of the manual book in ``load_books``' answer


@dataclass(frozen=True)
class BookPosition:
    """One symbol a book holds, valued at ``last_price`` (at cost while no price is known)."""

    symbol: str
    qty: Decimal
    cost_basis: Decimal
    realized_pnl: Decimal  # of its own sells, before fees
    last_price: Decimal | None

    @property
    def avg_entry_price(self) -> Decimal | None:
        return money(self.cost_basis / self.qty) if self.qty > 0 else None

    @property
    def market_value(self) -> Decimal:
        return money(self.qty * self.last_price) if self.last_price is not None else self.cost_basis

    @property
    def unrealized_pnl(self) -> Decimal:
        return self.market_value - self.cost_basis


@dataclass(frozen=True)
class SessionBook:
    """What one session owns; ``session_id`` None is the manual book (fills outside any session)."""

    session_id: uuid.UUID | None
    capital: Decimal
    cash: Decimal
    reserved: Decimal = ZERO  # its open buy orders' reservations (still inside ``cash``)
    fees: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    positions: tuple[BookPosition, ...] = ()  # the symbols it holds (non-zero), by symbol
    open_sell_qty: Mapping[str, Decimal] = field(default_factory=dict)  # shares promised to its open sells
    fill_count: int = 0

    @property
    def available(self) -> Decimal:
        """Cash it may still commit: its cash less what its own open buy orders reserve."""
        return self.cash - self.reserved

    @property
    def positions_value(self) -> Decimal:
        return sum((p.market_value for p in self.positions), ZERO)

    @property
    def equity(self) -> Decimal:
        return self.cash + self.positions_value

    @property
    def pnl(self) -> Decimal:
        """Its own profit: what its sells brought - what its buys cost - fees + what it holds, marked."""
        return self.equity - self.capital

    def position(self, symbol: str) -> BookPosition | None:
        return next((p for p in self.positions if p.symbol == symbol), None)

    def qty(self, symbol: str) -> Decimal:
        held = self.position(symbol)
        return held.qty if held is not None else ZERO

    def strategy_account(self, symbol: str) -> dict[str, float | None]:
        """What the strategy is told (``Strategy.account``) when it decides on ``symbol``: its own cash and
        equity, and its own position and average entry in that symbol."""
        held = self.position(symbol)
        return {
            "cash": float(self.cash), "equity": float(self.equity),
            "position": float(held.qty) if held else 0.0,
            "position_price": float(price) if held and (price := held.avg_entry_price) is not None else None,
        }  # fmt: skip


class _Fold:
    """Fills applied in booking order, as the ledger applies them to a position."""

    def __init__(self, capital: Decimal) -> None:
        self.capital = capital
        self.cash = capital
        self.reserved = ZERO
        self.fees = ZERO
        self.realized = ZERO
        self.qty: dict[str, Decimal] = {}
        self.cost: dict[str, Decimal] = {}
        self.symbol_realized: dict[str, Decimal] = {}
        self.open_sells: dict[str, Decimal] = {}
        self.fills = 0

    def fill(self, symbol: str, side: str, qty: Decimal, price: Decimal, fee: Decimal) -> None:
        notional = money(qty * price)
        held, cost = self.qty.get(symbol, ZERO), self.cost.get(symbol, ZERO)
        if side == "buy":
            self.cash -= notional + fee
            held, cost = held + qty, cost + notional
        else:
            # more than the book holds can only be an old session's sell of shares it did not own: all its cost goes
            removed = cost if qty >= held else money(cost * qty / held)
            self.cash += notional - fee
            self.realized += notional - removed
            self.symbol_realized[symbol] = self.symbol_realized.get(symbol, ZERO) + notional - removed
            held, cost = held - qty, cost - removed
        self.qty[symbol], self.cost[symbol] = held, cost
        self.fees += fee
        self.fills += 1

    def order(self, symbol: str, side: str, remaining: Decimal, reserved: Decimal) -> None:
        self.reserved += reserved
        if side == "sell":
            self.open_sells[symbol] = self.open_sells.get(symbol, ZERO) + remaining

    def book(self, session_id: uuid.UUID | None, price_of: PriceOf) -> SessionBook:
        positions = tuple(
            BookPosition(s, q, self.cost[s], self.symbol_realized.get(s, ZERO), price_of(s))
            for s, q in sorted(self.qty.items()) if q != 0
        )  # fmt: skip
        return SessionBook(
            session_id, self.capital, self.cash, self.reserved, self.fees, self.realized, positions,
            dict(self.open_sells), self.fills,
        )  # fmt: skip


def _money(column: Any) -> ColumnElement[Any]:
    return cast(column, Numeric)


@functools.cache
def _statement(for_sessions: bool) -> Any:
    """Capital rows (one per session) first, then the ledger's fills and open orders in booking order: one UNION ALL,
    with the user (``:user_id``) and the sessions (``:session_ids``, expanding) as parameters.

    Built once per shape and cached: building it took about 4 ms of Python per call, more than the query itself
    (about 2 ms), and a paper session reads its book at every bar. With ``for_sessions`` the fills are found
    through the orders (``ix_orders_session_id`` then ``ix_fills_order_id``: every ledger fill has its order, whose
    session it copied); without, all of the user's ledger fills are read (the portfolio's split, manual ones)."""
    user_id: BindParameter[Any] = bindparam("user_id")
    none_text, none_number = cast(null(), String), cast(null(), Numeric)
    capital = select(
        literal("capital").label("kind"), TradingSession.id.label("session_id"), none_text.label("symbol"),
        none_text.label("side"), none_number.label("qty"), _money(TradingSession.initial_capital).label("amount"),
        none_number.label("fee"), TradingSession.started_at.label("at"), TradingSession.id.label("id"),
    ).where(TradingSession.user_id == user_id)  # fmt: skip
    fills = select(
        literal("fill"), Fill.session_id, Fill.symbol, Fill.side, _money(Fill.quantity), _money(Fill.price),
        _money(Fill.fees), Fill.executed_at, Fill.id,
    ).where(Fill.user_id == user_id, Fill.source == "ledger")  # fmt: skip
    orders = select(
        literal("order"), Order.session_id, Order.symbol, Order.side, _money(Order.quantity - Order.filled_quantity),
        _money(Order.reserved_amount), none_number, Order.created_at, Order.id,
    ).where(Order.user_id == user_id, Order.status.in_(OPEN_LEDGER_STATUSES))  # fmt: skip
    if for_sessions:
        ids: BindParameter[Any] = bindparam("session_ids", expanding=True)
        capital = capital.where(TradingSession.id.in_(ids))
        fills = fills.where(Fill.order_id.in_(select(Order.id).where(Order.session_id.in_(ids))))
        orders = orders.where(Order.session_id.in_(ids))
    united = union_all(capital, fills, orders).subquery()
    # at one instant a buy goes first: the book never shows a sell of shares it has not bought yet
    return select(united).order_by(united.c.kind != "capital", united.c.at, united.c.side == "sell", united.c.id)


def load_books(
    factory: sessionmaker[Session],
    user_id: uuid.UUID,
    price_of: PriceOf,
    session_ids: Iterable[uuid.UUID] | None = None,
) -> dict[uuid.UUID | None, SessionBook]:
    """The books of the user's sessions ``session_ids`` (every paper session of the user, and the manual book
    under ``MANUAL``, when None), in one query. Positions are valued with ``price_of`` (None: at cost)."""
    ids = None if session_ids is None else list(session_ids)
    folds: dict[uuid.UUID | None, _Fold] = {}
    if ids is None:
        folds[MANUAL] = _Fold(ZERO)
    elif not ids:
        return {}
    with factory() as s:
        params: dict[str, Any] = {"user_id": user_id} if ids is None else {"user_id": user_id, "session_ids": ids}
        rows = s.execute(_statement(ids is not None), params).all()
    for kind, session_id, symbol, side, qty, amount, fee, _at, _id in rows:
        if kind == "capital":
            folds[session_id] = _Fold(Decimal(amount or 0))
            continue
        fold = folds.get(session_id)
        if fold is None:  # the row of a session with fills or orders but another user's or gone: not ours to show
            continue
        if kind == "fill":
            fold.fill(symbol, side, Decimal(qty), Decimal(amount), Decimal(fee or 0))
        else:
            fold.order(symbol, side, Decimal(qty), Decimal(amount or 0))
    return {key: fold.book(key, price_of) for key, fold in folds.items()}


def load_book(
    factory: sessionmaker[Session], user_id: uuid.UUID, session_id: uuid.UUID, price_of: PriceOf
) -> SessionBook:
    """One session's book (an empty one, capital 0, if the user has no such session)."""
    return load_books(factory, user_id, price_of, [session_id]).get(session_id) or SessionBook(session_id, ZERO, ZERO)
