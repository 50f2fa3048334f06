"""Club benchmark: 50 traders on ONE strict Alpaca paper account, through the club router and, as the baseline,
through the naive pass-through (every virtual order sent to the account as it is, as before the router).

Issue 25. Each phase runs on a fresh strict stand-in (tests/alpaca_standin: the account-wide rules Alpaca applies,
refusals counted per rule) and a fresh scratch database:

* **router**: ``Ledger(sessions, ClubDesk(...), prices)`` with the ``ClubRouter`` on ``AlpacaBroker`` (the real
  alpaca-py client and trade stream against the stand-in);
* **baseline**: ``Ledger(sessions, AlpacaBroker(...), prices)``: each order goes to the account as placed. An order
  the account refuses surfaces as OrderRejected from ``place_order`` and is counted, not fatal.

The session is simulated: a "market" thread walks a seeded price per symbol and closes one synthetic 1-minute bar
per symbol every ``bar_s`` of wall time (0.2 s: a 5-hour session takes a minute). Each bar's timestamp is "now
less one minute", so it closes as it is published and the router's fill model sees it for every order placed
before it, never after (``ClubRouter._apply_bar``). The same thread is the street: it fills every open order at
the stand-in promptly at the walk's price (a quarter of them in two partial fills), and fills resting orders (only
the baseline sends any) on the bar that reaches them, as the backtester's fill model would. The stand-in does
nothing by itself.

Traders decide on closed bars, as paper sessions do, so their orders come in bursts after each bar. Each follows
one strategy on a watchlist of symbols: market in/out, limit entries and exits around the price, stop entries,
brackets (take-profit + stop-loss), and flippers (long, then sell twice the position to go short, and back). Same
seed, same script in both phases. The duplicate-order guard is off (the script repeats orders on purpose).

In the router phase the trade stream is dropped several times in the middle of fills (``stream_down`` around the
rest of a partly filled street order): those events are lost, as Alpaca replays nothing. The router re-settles
over REST when the stream reconnects (AlpacaBroker's connection listener calling ``router.resettle()``, the
production signal; without that hook in the tree, after each drop by hand). ``missed_fills_after_reconnect`` counts
the virtual orders whose street quantity the account filled but whose fills are not booked at the end.

    python -m bench.club [--quick] [--url postgresql://...]

Without --url (or STRATFORGE_TEST_DATABASE_URL) an embedded PostgreSQL is started in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import ROUND_FLOOR, Decimal

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from bench.common import admin_server, cpu_reference_ms, drop_database, emit, percentile, scratch_url
from core.accounts import AccountService
from core.adapters.alpaca.broker import AlpacaBroker
from core.broker.protocol import Broker
from core.club.desk import ClubDesk
from core.club.router import ClubRouter
from core.db import migrate
from core.db.engine import make_engine, make_session_factory
from core.db.models import Order, Position, RiskSettings
from core.domain.bars import NormalizedBar
from core.domain.clock import utc_now
from core.domain.orders import OrderSide, OrderType
from core.domain.tickets import OrderTicket
from core.ledger.errors import LedgerError, OrderRejected
from core.ledger.invariant import check_all
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from tests.alpaca_standin import AlpacaStandIn
from tests.alpaca_standin.account import StandInOrder
from tests.ledger.helpers_alpaca import event_loop_thread, make_broker, streaming

SYMBOLS = (
    "AAPL", "MSFT", "SPY", "TSLA", "QQQ", "NVDA", "AMZN", "GOOG", "META", "AMD",
    "NFLX", "INTC", "ORCL", "CRM", "ADBE", "PYPL", "UBER", "SHOP", "COIN", "PLTR",
)  # fmt: skip
KINDS = ("market", "limit", "stop", "bracket", "flipper")
OPEN = ("pending", "submitted", "accepted", "partially_filled", "pending_cancel")
BUY, SELL = OrderSide.BUY, OrderSide.SELL
CENT = Decimal("0.01")
ZERO = Decimal(0)


@dataclass(frozen=True)
class Config:
    traders: int = 50
    symbols: int = 20
    watchlist: int = 4  # symbols each trader's strategy watches (10 traders per symbol with 50 and 20)
    orders_per_trader: int = 20  # orders each trader places at most over the session
    bars: int = 100  # the session, in synthetic minutes
    bar_s: float = 0.5  # wall seconds per synthetic minute
    entry_chance: float = 0.5  # per bar, a flat trader's chance to enter
    fill_s: float = 0.02  # how often the street looks at open orders
    partial_share: float = 0.25  # street orders filled in two parts
    drops: int = 3  # trade-stream outages in the middle of fills (router phase)
    window_s: float = 0.05  # the router's netting window (its default)
    drain_s: float = 30.0  # after the session, how long the router's phase may take to settle
    baseline_drain_s: float = 8.0  # the baseline's (an event it lost is never settled: no point waiting long)
    seed: int = 25


QUICK = Config(orders_per_trader=4, bars=14, drops=1)


@dataclass
class Tally:
    """What the traders saw: orders the ledger took, refusals by the account and by the ledger's own checks."""

    attempts: int = 0
    accepted: int = 0
    refused_by_account: int = 0
    refused_by_ledger: Counter[str] = field(default_factory=Counter)
    cancels: int = 0
    flips_refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def sent(self) -> int:
        """Orders that passed the ledger's checks, so reached the router or (baseline) the account."""
        return self.accepted + self.refused_by_account


@dataclass(frozen=True)
class PhaseResult:
    routed: bool
    orders: int  # virtual orders that passed the ledger's checks
    tally: dict[str, object]
    rule_rejections: dict[str, int]
    requests: dict[str, int]
    latencies_s: list[float]
    pass_s: list[float]
    send_s: list[float]
    street_needs: int  # (symbol, bar) pairs in which some virtual order needed the account to move
    missed_fills: int
    drops: int
    filled_during_drops: int
    resettled: int
    invariant_violations: int
    reconciliation_diffs: dict[str, tuple[str, str]]  # symbol -> (virtual, account)
    router_position_diffs: dict[str, tuple[str, str]]  # symbol -> (the router's idea of the account, the account)
    unsettled: bool  # the drain's deadline passed before everything settled
    seconds: float
    router_errors: list[str]

    @property
    def account_rule_rejections(self) -> int:
        return sum(self.rule_rejections.values())

    @property
    def requests_total(self) -> int:
        return sum(self.requests.values())

    @property
    def requests_per_order(self) -> float:
        return self.requests_total / max(self.orders, 1)


# ----- the market and the street -----------------------------------------------------------------------------
class Market(threading.Thread):
    """The walk, the bars, and the street's executions at the stand-in (see the module docstring)."""

    def __init__(
        self, config: Config, symbols: tuple[str, ...], alpaca: AlpacaStandIn, prices: LastPrices,
        on_bar: Callable[[str, NormalizedBar], None] | None, drop_ticks: set[int], after_drop: Callable[[], None],
    ) -> None:  # fmt: skip
        super().__init__(name="bench-market", daemon=True)
        self.config, self.symbols, self.alpaca, self.prices = config, symbols, alpaca, prices
        self.on_bar, self.drop_ticks, self.after_drop = on_bar, drop_ticks, after_drop
        self.rng = random.Random(config.seed)
        self.last = {s: round(self.rng.uniform(20, 400), 2) for s in symbols}
        for s, p in self.last.items():
            prices.update(s, Decimal(str(p)))
        self.tick = 0
        self.ticked = threading.Condition()
        self.stop_flag = threading.Event()
        self.filled_during_drops = 0
        self.drops = 0
        self._split: set[str] = set()  # street orders whose first part was filled

    def price(self, symbol: str) -> Decimal:
        return Decimal(str(self.last[symbol]))

    def wait_tick(self, seen: int) -> int | None:
        """The next bar's number once it closed; None when the session is over."""
        with self.ticked:
            while self.tick <= seen and self.tick < self.config.bars and not self.stop_flag.is_set():
                self.ticked.wait(1.0)
            return self.tick if self.tick > seen else None

    def run(self) -> None:
        next_tick = time.monotonic() + self.config.bar_s
        drop_pending = False
        while not self.stop_flag.is_set():
            if self.tick < self.config.bars and time.monotonic() >= next_tick:
                self._close_bars()
                next_tick += self.config.bar_s
                if self.tick in self.drop_ticks:
                    drop_pending = True
            if drop_pending and self._drop_mid_fill():
                drop_pending = False  # at the first street orders after the drop's bar
            self._fill_market_orders()
            self.stop_flag.wait(self.config.fill_s)
        with self.ticked:
            self.ticked.notify_all()

    def _close_bars(self) -> None:
        opens = dict(self.last)
        stamp = utc_now() - timedelta(minutes=1)  # closes now: orders placed from here on wait for the next one
        bars = {}
        for s in self.symbols:
            o = opens[s]
            c = round(max(1.0, o * (1 + self.rng.gauss(0, 0.002))), 2)
            h = round(max(o, c) * (1 + abs(self.rng.gauss(0, 0.001))), 2)
            lo = round(min(o, c) * (1 - abs(self.rng.gauss(0, 0.001))), 2)
            bars[s] = NormalizedBar(s, "1Min", stamp, o, h, lo, c, 10_000, source="simulated")
            self.last[s] = c
            self.prices.update(s, Decimal(str(c)))
        self._fill_resting(bars)
        if self.on_bar is not None:
            for s, bar in bars.items():
                self.on_bar(s, bar)
        with self.ticked:
            self.tick += 1
            self.ticked.notify_all()

    def _open_orders(self) -> list[StandInOrder]:
        """The account's open orders as it holds them (rendering them as JSON 50 times a second, as list_orders
        does, cost the router's process a third of its CPU). Only this thread fills, so the quantities hold."""
        return [o for o in list(self.alpaca.account.orders.values()) if o.is_open]

    def _fill(self, order: StandInOrder, qty: Decimal | None, price: Decimal) -> bool:
        try:
            self.alpaca.fill(order.id, qty=qty, price=price)
        except ValueError:  # canceled meanwhile, or its bracket sibling filled first
            return False
        return True

    def _fill_market_orders(self) -> None:
        for order in self._open_orders():
            if order.type != "market" or order.status not in ("new", "partially_filled"):
                continue
            left = order.qty - order.filled_qty
            part: Decimal | None = None
            if order.id not in self._split and left >= 2 and self.rng.random() < self.config.partial_share:
                part = (left / 2).to_integral_value(rounding=ROUND_FLOOR)
                self._split.add(order.id)
            self._fill(order, part, self.price(order.symbol))

    def _fill_resting(self, bars: dict[str, NormalizedBar]) -> None:
        """Orders resting at the account (only the baseline sends any) fill on the bar that reaches them."""
        for order in self._open_orders():
            if order.type == "market" or order.status not in ("new", "partially_filled"):
                continue
            bar = bars.get(order.symbol)
            if bar is None:
                continue
            o, h, lo = (Decimal(str(x)) for x in (bar.open, bar.high, bar.low))
            buy = order.side == "buy"
            price: Decimal | None = None
            if order.type == "limit" and order.limit_price is not None:
                limit = order.limit_price
                if buy and lo <= limit:
                    price = min(limit, o)
                elif not buy and h >= limit:
                    price = max(limit, o)
            elif order.type == "stop" and order.stop_price is not None:
                stop = order.stop_price
                if buy and h >= stop:
                    price = max(stop, o)
                elif not buy and lo <= stop:
                    price = min(stop, o)
            if price is not None:
                self._fill(order, None, price)

    def _drop_mid_fill(self) -> bool:
        """Fill part of the open street orders, then lose the stream while the rest fills (False: none open)."""
        orders = [o for o in self._open_orders() if o.type == "market" and o.status == "new"]
        if not orders:
            return False
        for order in orders:
            if order.qty >= 2:
                self._fill(order, (order.qty / 2).to_integral_value(rounding=ROUND_FLOOR), self.price(order.symbol))
        with self.alpaca.stream_down():
            for order in orders:
                if self._fill(order, None, self.price(order.symbol)):
                    self.filled_during_drops += 1
            time.sleep(0.05)
        self.drops += 1
        self.after_drop()
        return True


# ----- the traders -------------------------------------------------------------------------------------------
class Trader(threading.Thread):
    """One trader following one strategy kind, deciding once per closed bar."""

    def __init__(
        self, index: int, user_id: uuid.UUID, kind: str, watch: tuple[str, ...], config: Config, ledger: Ledger,
        sessions: sessionmaker[Session], market: Market, tally: Tally,
    ) -> None:  # fmt: skip
        super().__init__(name=f"bench-trader-{index}", daemon=True)
        self.user_id, self.kind, self.watch, self.config = user_id, kind, watch, config
        self.ledger, self.sessions, self.market, self.tally = ledger, sessions, market, tally
        self.rng = random.Random(config.seed * 1000 + index)
        self.symbol = watch[0]
        self.working: list[uuid.UUID] = []  # orders it waits on (a bracket's entry, then its legs)
        self.bracket: uuid.UUID | None = None
        self.resting = False  # what it waits on rests (canceled when it has waited too long)
        self.flat = True  # no position in ``symbol`` when it last looked, and nothing placed since
        self.since = 0
        self.placed = 0
        self.hold = 1

    def run(self) -> None:
        seen = 0
        while True:
            tick = self.market.wait_tick(seen)
            if tick is None:
                return
            seen = tick
            if self.placed < self.config.orders_per_trader:
                self.act(tick)

    # --- reading its own state back from the ledger's tables
    def _state(self) -> tuple[dict[uuid.UUID, str], Decimal, list[uuid.UUID]]:
        with self.sessions() as s:
            statuses: dict[uuid.UUID, str] = {}
            if self.working:
                statuses = dict(s.execute(select(Order.id, Order.status).where(Order.id.in_(self.working))).all())
            legs: list[uuid.UUID] = []
            if self.bracket is not None and statuses.get(self.bracket) == "filled":
                legs = list(s.scalars(select(Order.id).where(Order.parent_order_id == self.bracket)))
            qty = s.scalar(
                select(func.coalesce(func.sum(Position.quantity), 0)).where(
                    Position.user_id == self.user_id, Position.symbol == self.symbol
                )
            )
        return statuses, Decimal(qty), legs

    def act(self, tick: int) -> None:
        enter = self.rng.random() < self.config.entry_chance
        if not self.working and (not enter if self.flat else tick - self.since < self.hold):
            return  # nothing to wait for and nothing to do: no need to read the books
        statuses, position, legs = self._state()
        if legs:  # the bracket's entry filled: now its exits are what it waits on
            self.working, self.bracket, self.resting = legs, None, True
            statuses = {leg: "accepted" for leg in legs}
        open_ids = [i for i in self.working if statuses.get(i) in OPEN]
        if open_ids:
            patience = 20 if self.kind == "bracket" else 6
            if self.resting and tick - self.since > patience:  # a market order is waited for
                for order_id in open_ids:
                    try:
                        self.ledger.cancel_order(self.user_id, order_id)
                        with self.tally.lock:
                            self.tally.cancels += 1
                    except LedgerError:
                        pass  # filled or closed meanwhile
                self.since = tick
            return
        self.working, self.bracket, self.resting = [], None, False
        self.flat = position == 0
        if position == 0:
            if enter:
                self.symbol = self.rng.choice(self.watch)
                self._enter(tick)
        elif tick - self.since >= self.hold:
            self._exit(tick, position)

    def _offset(self, price: Decimal) -> Decimal:
        return max(CENT, (price * Decimal(str(self.rng.uniform(0.001, 0.004)))).quantize(CENT))

    def _enter(self, tick: int) -> None:
        price = self.market.price(self.symbol)
        qty = Decimal(self.rng.randint(1, 20))
        self.hold = self.rng.randint(1, 5)
        off = self._offset(price)
        if self.kind == "limit":
            ticket = OrderTicket(self.symbol, BUY, qty, OrderType.LIMIT, limit_price=price - off)
        elif self.kind == "stop":
            ticket = OrderTicket(self.symbol, BUY, qty, OrderType.STOP, stop_price=price + off)
        elif self.kind == "bracket":
            ticket = OrderTicket(self.symbol, BUY, qty, take_profit_price=price + off, stop_loss_price=price - off)
        else:
            ticket = OrderTicket(self.symbol, BUY, qty)
        order_id = self._place(ticket, tick)
        if order_id is not None and self.kind == "bracket":
            self.bracket = order_id

    def _exit(self, tick: int, position: Decimal) -> None:
        side = SELL if position > 0 else BUY
        qty = abs(position)
        price = self.market.price(self.symbol)
        off = self._offset(price)
        if self.kind == "flipper" and self.rng.random() < 0.7:
            if self._place(OrderTicket(self.symbol, side, 2 * qty), tick) is not None:
                return
            with self.tally.lock:  # short selling refused by the ledger: go flat instead
                self.tally.flips_refused += 1
        if self.kind == "limit" and position > 0:
            self._place(OrderTicket(self.symbol, side, qty, OrderType.LIMIT, limit_price=price + off), tick)
        elif self.kind == "stop" and position > 0 and self.rng.random() < 0.5:
            self._place(OrderTicket(self.symbol, side, qty, OrderType.STOP, stop_price=price - off), tick)
        else:
            self._place(OrderTicket(self.symbol, side, qty), tick)

    def _place(self, ticket: OrderTicket, tick: int) -> uuid.UUID | None:
        self.placed += 1
        with self.tally.lock:
            self.tally.attempts += 1
        try:
            placed = self.ledger.place_order(self.user_id, ticket)
        except OrderRejected as exc:
            with self.tally.lock:
                if exc.rule == "broker":
                    self.tally.refused_by_account += 1
                else:
                    self.tally.refused_by_ledger[exc.rule] += 1
            return None
        with self.tally.lock:
            self.tally.accepted += 1
        self.working = [placed.id]
        self.flat = False
        self.resting = ticket.type is not OrderType.MARKET
        self.since = tick
        return placed.id


def kind_of(index: int, config: Config) -> str:
    return KINDS[index % len(KINDS)]


def watchlist(index: int, config: Config) -> tuple[str, ...]:
    """Symbols ``index`` watches: steps of 7 through the list, so every symbol is watched by several kinds."""
    symbols = SYMBOLS[: config.symbols]
    return tuple(dict.fromkeys(symbols[(index + 7 * k) % len(symbols)] for k in range(config.watchlist)))


# ----- one phase -----------------------------------------------------------------------------------------------
def sign_up_traders(sessions: sessionmaker[Session], count: int) -> list[uuid.UUID]:
    """The traders, through the accounts service, with the duplicate guard off (the script repeats orders on
    purpose) and room for open orders. Four at a time: argon2 takes 0.5 s a hash here and releases the GIL."""
    accounts = AccountService(sessions)
    with ThreadPoolExecutor(4) as pool:
        users = list(
            pool.map(
                lambda i: accounts.sign_up(f"club{i}@example.com", f"club{i}", "Bench-Pass-2026x").id, range(count)
            )
        )
    with sessions() as s:
        s.execute(update(RiskSettings).values(duplicate_window_seconds=0, max_open_orders=1000))
        s.commit()
    return users


def prepared_database(admin: str, traders: int) -> tuple[str, list[uuid.UUID]]:
    """A scratch database, migrated, with the traders signed up: the template both phases start from."""
    url = scratch_url(admin)
    engine = make_engine(url, pool_size=4, max_overflow=0)
    try:
        migrate.upgrade(engine)
        users = sign_up_traders(make_session_factory(engine), traders)
    finally:
        engine.dispose()
    return url, users


def clone_database(admin: str, template: str) -> str:
    """A new scratch database with ``template``'s content (nobody may be connected to the template)."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = f"sf_bench_{uuid.uuid4().hex[:8]}"
    plain = make_url(admin).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True, connect_timeout=10) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(str(make_url(template).database))
            )
        )
    return make_url(admin).set(database=name).render_as_string(hide_password=False)


@contextmanager
def composed(
    routed: bool, sessions: sessionmaker[Session], alpaca: AlpacaStandIn, prices: LastPrices, config: Config
) -> Iterator[tuple[Ledger, ClubRouter | None, AlpacaBroker]]:
    """The ledger on the club router (and the router on the account), or the ledger on the account directly."""
    street = make_broker(alpaca)
    with event_loop_thread() as loop, streaming(street, alpaca, loop):
        if not routed:
            ledger = Ledger(sessions, street, prices)
            try:
                yield ledger, None, street
            finally:
                ledger.flush_acceptances()
            return
        router = ClubRouter(sessions, street, prices, window_s=config.window_s)
        broker: Broker = ClubDesk(sessions, router.wake, street)
        ledger = Ledger(sessions, broker, prices)
        router.start()
        try:
            yield ledger, router, street
        finally:
            router.stop()
            ledger.flush_acceptances()


# The floor of what any router could send: one order per symbol and bar in which a market order was placed or a
# resting order filled (perfect netting within the bar, none across bars, since waiting a bar is not routing).
_STREET_NEEDS = text(
    """SELECT count(*) FROM (
           SELECT DISTINCT symbol, floor(extract(epoch FROM created_at) / :bar_s) FROM orders
            WHERE broker = 'club' AND order_type = 'market' AND filled_quantity > 0
           UNION
           SELECT DISTINCT symbol, floor(extract(epoch FROM created_at) / :bar_s) FROM club_follows
       ) AS needs"""
)


def run_phase(url: str, users: list[uuid.UUID], config: Config, routed: bool) -> PhaseResult:
    """One phase on a fresh stand-in and the fresh database at ``url`` (``prepared_database``'s content)."""
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")  # the stand-in is on loopback
    engine = make_engine(url, pool_size=config.traders + 8, max_overflow=8)
    sessions = make_session_factory(engine)
    symbols = SYMBOLS[: config.symbols]
    tally = Tally()
    with ExitStack() as stack:
        alpaca = stack.enter_context(AlpacaStandIn())
        for symbol in symbols:
            if symbol not in alpaca.account.assets:
                alpaca.add_asset(symbol)
        alpaca.account.cash = Decimal(100_000) * config.traders  # the club's account holds its traders' balances
        prices = LastPrices()
        hook = {"used": False}
        ledger, router, street = stack.enter_context(composed(routed, sessions, alpaca, prices, config))
        after_drop: Callable[[], None] = lambda: None  # noqa: E731
        if router is not None:
            add_listener = getattr(street, "add_connection_listener", None)
            if add_listener is not None:  # the production signal: re-settle after every reconnection
                hook["used"] = True
                add_listener(lambda count: router.resettle() if count > 1 else None)
            else:  # no reconnect hook in this tree: re-settle by hand once the stream is back
                after_drop = _resettle_when_back(alpaca, router)
        drop_ticks = set() if router is None else _drop_ticks(config)
        market = Market(config, symbols, alpaca, prices, router.on_bar if router else None, drop_ticks, after_drop)
        traders = [
            Trader(i, u, kind_of(i, config), watchlist(i, config), config, ledger, sessions, market, tally)
            for i, u in enumerate(users)
        ]
        started = time.perf_counter()
        market.start()
        for t in traders:
            t.start()
        for t in traders:
            t.join()
        settled = _drain(sessions, alpaca, router, config.drain_s if routed else config.baseline_drain_s)
        market.stop_flag.set()
        market.join(10)
        seconds = time.perf_counter() - started
        if router is not None:
            router.wait_idle()
        rule_rejections = {k: v for k, v in alpaca.rule_rejections().items() if v}
        requests = alpaca.request_counts
        missed = missed_fills(sessions, alpaca) if router is not None else 0
        account = alpaca.positions()
        believed = router.street_positions() if router is not None else account
        stats = router.stats if router is not None else None
    with sessions() as s:
        violations = sum(not r.holds for r in check_all(s))
        virtual = dict(s.execute(select(Position.symbol, func.sum(Position.quantity)).group_by(Position.symbol)).all())
        needs = s.execute(_STREET_NEEDS, {"bar_s": config.bar_s}).scalar() if routed else None
    engine.dispose()
    diffs = {
        sym: (str(virtual.get(sym, ZERO)), str(account.get(sym, ZERO)))
        for sym in sorted(set(virtual) | set(account))
        if virtual.get(sym, ZERO) != account.get(sym, ZERO)
    }
    belief_diffs = {
        sym: (str(believed.get(sym, ZERO)), str(account.get(sym, ZERO)))
        for sym in sorted(set(believed) | set(account))
        if believed.get(sym, ZERO) != account.get(sym, ZERO)
    }
    return PhaseResult(
        routed=routed,
        orders=tally.sent,
        tally={
            "attempts": tally.attempts,
            "accepted": tally.accepted,
            "refused_by_account": tally.refused_by_account,
            "refused_by_ledger": dict(tally.refused_by_ledger),
            "cancels": tally.cancels,
            "flips_refused": tally.flips_refused,
            "reconnect_hook": hook["used"],
        },
        rule_rejections=rule_rejections,
        requests=requests,
        latencies_s=list(stats.route_latencies_s) if stats else [],
        pass_s=list(stats.pass_seconds) if stats else [],
        send_s=list(stats.send_seconds) if stats else [],
        missed_fills=missed,
        drops=market.drops,
        filled_during_drops=market.filled_during_drops,
        resettled=stats.resettled if stats else 0,
        invariant_violations=violations,
        reconciliation_diffs=diffs,
        router_position_diffs=belief_diffs,
        unsettled=not settled,
        seconds=seconds,
        router_errors=list(stats.errors) if stats else [],
        street_needs=needs or 0,
    )


def _drop_ticks(config: Config) -> set[int]:
    return {config.bars * (k + 1) // (config.drops + 1) for k in range(config.drops)}


def _resettle_when_back(alpaca: AlpacaStandIn, router: ClubRouter) -> Callable[[], None]:
    def after_drop() -> None:
        accepted = alpaca.connections_accepted

        def wait() -> None:
            alpaca.wait_for_listeners(1, 30.0, accepted_at_least=accepted + 1)
            router.resettle()

        threading.Thread(target=wait, name="bench-resettle", daemon=True).start()

    return after_drop


def _drain(sessions: sessionmaker[Session], alpaca: AlpacaStandIn, router: ClubRouter | None, within_s: float) -> bool:
    """After the session: until nothing is on its way any more (market orders booked, steps done, follows
    settled, nothing open at the street); False if ``within_s`` passed first."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if router is not None:  # the bars and street events queued so far handled (the last bars' resting fills)
            router.wait_idle(max(0.1, deadline - time.monotonic()))
        street_open = any(o["type"] == "market" for o in alpaca.account.list_orders(status="open", limit=100_000))
        with sessions() as s:
            markets = s.scalar(
                select(func.count())
                .select_from(Order)
                .where(Order.status.in_(OPEN), Order.order_type == "market", Order.parent_order_id.is_(None))
            )
            routing = 0
            if router is not None:
                routing = s.execute(
                    text(
                        "SELECT (SELECT count(*) FROM club_route_steps WHERE status IN ('planned', 'open'))"
                        " + (SELECT count(*) FROM club_follows WHERE settled < qty)"
                    )
                ).scalar_one()
        if not street_open and markets == 0 and routing == 0:
            return True
        time.sleep(0.1)
    return False


def missed_fills(sessions: sessionmaker[Session], alpaca: AlpacaStandIn) -> int:
    """Virtual orders in a step whose street order the account filled further than the step booked.

    A step's watermark (``street_filled``) moves in the same transaction as the bookings of the execution it
    covers, so a step whose watermark equals what the account filled has booked every share of it."""
    filled_at_street = {
        o["client_order_id"]: Decimal(o["filled_qty"])
        for o in alpaca.account.list_orders(status="all", limit=1_000_000)
        if o["client_order_id"].startswith("club-")
    }
    with sessions() as s:
        rows = s.execute(
            text(
                "SELECT s.client_order_id, s.street_filled, a.order_id, a.filled < a.qty"
                "  FROM club_route_allocations a JOIN club_route_steps s ON s.id = a.step_id"
                " WHERE s.client_order_id IS NOT NULL AND a.kind <> 'cross'"
            )
        ).all()
    missed = {
        order_id
        for client_id, watermark, order_id, short in rows
        if short and watermark < filled_at_street.get(client_id, ZERO)
    }
    return len(missed)


def run(admin: str, config: Config) -> tuple[PhaseResult, PhaseResult]:
    """Both phases, each on its own copy of one prepared scratch database and its own stand-in: (router, baseline)."""
    template, users = prepared_database(admin, config.traders)
    urls = [template]
    try:
        urls.append(clone_database(admin, template))
        router = run_phase(urls[0], users, config, routed=True)
        baseline = run_phase(urls[1], users, config, routed=False)
    finally:
        for url in urls:
            drop_database(admin, url)
    return router, baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--url", default=os.environ.get("STRATFORGE_TEST_DATABASE_URL"))
    parser.add_argument("--window-ms", type=float, default=None, help="the router's netting window")
    args = parser.parse_args()
    config = QUICK if args.quick else Config()
    if args.window_ms is not None:
        config = replace(config, window_s=args.window_ms / 1000)

    emit("cpu_reference_ms", cpu_reference_ms(), "ms", measures="this machine's speed now (bench.common)")
    with admin_server(args.url, "sf-bench-club-") as admin:
        router, baseline = run(admin, config)
    session = {
        "traders": config.traders, "symbols": config.symbols, "bars": config.bars, "bar_s": config.bar_s,
        "window_ms": config.window_s * 1000,
    }  # fmt: skip
    emit("account_rule_rejections", router.account_rule_rejections, "orders refused by the account",
         by_rule=router.rule_rejections, goal=0, **session)  # fmt: skip
    emit("account_rule_rejections_baseline", baseline.account_rule_rejections, "orders refused by the account",
         by_rule=baseline.rule_rejections, orders=baseline.orders)  # fmt: skip
    floor = router.street_needs / max(router.orders, 1)
    emit("alpaca_requests_per_order", router.requests_per_order, "requests/order", goal=0.3,
         requests=router.requests_total, orders=router.orders, by_route=router.requests)  # fmt: skip
    # The same work's ceiling: orders per request can't beat one street order per symbol and bar that needed one.
    emit(
        "street_orders_per_order_floor",
        round(floor, 4),
        "requests/order",
        street_needs=router.street_needs,
        posts_over_floor=round(router.requests.get("POST /v2/orders", 0) / max(router.street_needs, 1), 3),
    )
    emit("alpaca_requests_per_order_baseline", baseline.requests_per_order, "requests/order",
         requests=baseline.requests_total, orders=baseline.orders, by_route=baseline.requests)  # fmt: skip
    latencies = sorted(x * 1000 for x in router.latencies_s) or [float("nan")]
    emit("route_latency_p50_ms", percentile(latencies, 0.5), "ms", street_allocations=len(router.latencies_s))
    passes = sorted(x * 1000 for x in router.pass_s) or [float("nan")]
    emit("route_latency_p99_ms", percentile(latencies, 0.99), "ms", goal=250,
         router_passes=len(router.pass_s), pass_p50_ms=round(percentile(passes, 0.5), 1),
         pass_p99_ms=round(percentile(passes, 0.99), 1))  # fmt: skip
    # The part no router can remove: the broker's own answer to one POST, in this process under this load.
    sends = sorted(x * 1000 for x in router.send_s) or [float("nan")]
    emit(
        "street_send_p99_ms",
        round(percentile(sends, 0.99), 1),
        "ms",
        p50_ms=round(percentile(sends, 0.5), 1),
        sends=len(router.send_s),
    )
    emit("missed_fills_after_reconnect", router.missed_fills, "virtual orders", goal=0, drops=router.drops,
         street_orders_filled_during_drops=router.filled_during_drops, resettled=router.resettled,
         reconnect_hook=router.tally["reconnect_hook"])  # fmt: skip
    emit("invariant_violations", router.invariant_violations, "traders", baseline=baseline.invariant_violations)
    emit("reconciliation_diffs", len(router.reconciliation_diffs), "symbols", diffs=router.reconciliation_diffs,
         baseline=len(baseline.reconciliation_diffs), unsettled=router.unsettled,
         router_position_diffs=router.router_position_diffs,
         router_errors=router.router_errors[:5])  # fmt: skip
    for phase in (router, baseline):
        emit(f"session_s{'' if phase.routed else '_baseline'}", phase.seconds, "s", **phase.tally)


if __name__ == "__main__":
    main()
