"""The per-bar backtester: any Strategy, the SimBroker's fill model, the ledger's money rules.

Bar by bar: orders placed at an earlier bar meet this bar through
``core.broker.fill_model`` (the same pure functions the simulated broker uses, so
a backtest fills exactly as a simulated session would), the books are marked at
the close, then the strategy decides at that close. An order can therefore never
fill on the bar whose close produced it: the next bar is the first it sees.

Money follows the ledger: cash and fees in Decimal, positions keep their exact
cost basis, a sell realises proceeds minus the cost basis of the shares sold,
and shorting is refused (the ledger does not short yet); an intent that would
need it is recorded as rejected, as the risk chain would refuse the order. A buy
is trimmed to what the ledger could reserve (the limit, or the last close plus
the ledger's 3% collar for market and stop buys); a gap beyond the collar may
still take cash below zero, as it can in the ledger.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import NamedTuple

import numpy as np

from core.backtest.collector import heap_frozen_for_collector
from core.backtest.metrics import Metrics, TradeColumns, compute_metrics
from core.broker.fill_model import FillModel, WorkingOrder
from core.domain.money import MARKET_COLLAR
from core.domain.orders import OrderSide, OrderType
from core.strategy.api import BarData, IntentKind, OrderIntent, Strategy

ZERO = Decimal(0)
_BUY, _SELL = OrderSide.BUY, OrderSide.SELL
_MARKET = OrderType.MARKET
# The tuple types a run builds per trade are made with ``tuple.__new__(Type, values)``, as NamedTuple's own
# ``_make`` does: half the cost of calling the type, whose generated ``__new__`` is a Python function. The values
# are given in field order, in full.
_tuple = tuple.__new__
_TARGET, _BUY_INTENT, _CANCEL_ALL = IntentKind.TARGET, IntentKind.BUY, IntentKind.CANCEL_ALL
_COLLARED = 1 + float(MARKET_COLLAR)  # a market buy reserves the last price times this


class BarValues(NamedTuple):
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True)
class BacktestConfig:
    starting_cash: Decimal = Decimal("100000")
    fill_model: FillModel = field(default_factory=FillModel)
    fractional: bool = False  # whole shares unless the asset allows fractions
    close_at_end: bool = True  # value the last position at the final close as an "end_of_data" exit
    # Bars the strategy sees (``next`` runs, its state builds) before it may trade: a paper session's history
    # window, so that a backtest over the window plus the live bars decides each live bar as the session did.
    warmup_bars: int = 0


class Fill(NamedTuple):
    """One fill of a backtest (immutable; a NamedTuple because a run makes one per trade)."""

    bar: int
    side: OrderSide
    qty: Decimal
    price: Decimal
    fee: Decimal
    reason: str  # the intent's tag, or "signal"


class RoundTrip(NamedTuple):
    """One trade from flat to flat (several fills may build or reduce it)."""

    entry_bar: int
    exit_bar: int
    entry_time: float
    exit_time: float
    size: Decimal  # largest position held
    entry_price: Decimal  # average buy price
    exit_price: Decimal  # average sell price
    pnl: Decimal  # realised, after fees
    fees: Decimal
    exit_reason: str

    @property
    def return_pct(self) -> float:
        cost = self.entry_price * self.size
        return float(self.pnl / cost) if cost else 0.0


@dataclass(frozen=True)
class Rejection:
    bar: int
    reason: str


@dataclass
class BacktestRun:
    times: np.ndarray
    equity: np.ndarray  # at each bar's close
    position: np.ndarray  # shares held at each bar's close
    fills: list[Fill]
    trades: list[RoundTrip]
    rejections: list[Rejection]
    final_cash: Decimal
    starting_cash: Decimal

    def metrics(self, benchmark_close: np.ndarray | None = None) -> Metrics:
        """The run's metrics (exposure from the bars with a position)."""
        return compute_metrics(
            self.equity, self.times, round_trip_columns(self.trades), starting_cash=float(self.starting_cash),
            benchmark_close=benchmark_close, exposure=self.position,
        )  # fmt: skip


def round_trip_columns(trades: Sequence[RoundTrip]) -> TradeColumns:
    """The metrics' trade columns, transposed from the tuples in one pass (a run may have tens of thousands);
    ``return_pct`` is each trade's own (Decimal P&L over Decimal cost, then float)."""
    if not trades:
        return TradeColumns.of(())
    entry_bar, exit_bar, entry_time, exit_time, size, entry_price, _, pnl, _, _ = zip(*trades, strict=True)
    pct = [float(p / c) if (c := e * q) else 0.0 for p, e, q in zip(pnl, entry_price, size, strict=True)]
    n, f8, i8 = len(trades), np.float64, np.int64
    return TradeColumns(
        np.fromiter(map(float, pnl), f8, n), np.array(pct, dtype=f8), np.array(entry_time, dtype=f8),
        np.array(exit_time, dtype=f8), np.array(entry_bar, dtype=i8), np.array(exit_bar, dtype=i8),
    )  # fmt: skip


class _Working(NamedTuple):
    order: WorkingOrder
    placed: int
    reason: str


@dataclass
class Books:
    """One symbol's money as the ledger keeps it, plus the round trip in progress (shared with the allocation
    backtester, so both book fills the same way)."""

    cash: Decimal
    qty: Decimal = ZERO
    cost: Decimal = ZERO  # exact cost basis of the shares held
    # the open round trip
    opened: int = -1
    peak: Decimal = ZERO
    bought: Decimal = ZERO
    bought_value: Decimal = ZERO
    sold: Decimal = ZERO
    sold_value: Decimal = ZERO
    realized: Decimal = ZERO
    fees: Decimal = ZERO


def run_backtest(strategy: Strategy, data: BarData, config: BacktestConfig | None = None) -> BacktestRun:
    """Run ``strategy`` over ``data`` (whole float64 columns) and return the curves and trades."""
    cfg = config or BacktestConfig()
    n = len(data)
    opens, highs, lows, closes, volumes = (np.asarray(getattr(data, k), dtype=np.float64)
                                           for k in ("open", "high", "low", "close", "volume"))  # fmt: skip
    times = np.asarray(data.time, dtype=np.float64)
    books = Books(cfg.starting_cash)
    cash_f = float(books.cash)
    fills: list[Fill] = []
    trades: list[RoundTrip] = []
    rejections: list[Rejection] = []
    working: list[_Working] = []
    # plain Python floats per bar, without numpy scalars: the loop's hot path
    open_m, high_m, low_m, close_m, volume_m, time_m = (
        memoryview(np.ascontiguousarray(col)) for col in (opens, highs, lows, closes, volumes, times)
    )
    clock, decide, intents = strategy.runner_clock, strategy.next, strategy.intents
    account = strategy.account
    account.cash, account.position, account.position_price = cash_f, 0.0, math.nan
    account.mark_to_closes(close_m, clock)  # equity = cash_f + qty_f * close, computed when the strategy reads it
    lagged = strategy.prepare(data)  # init sees the starting cash, and no current bar
    evaluate, fee_of = cfg.fill_model.evaluate, cfg.fill_model.commission.fee
    qty_f = 0.0
    # Cash and shares after each bar's fills change only on fills: record them there, and build the equity and
    # position curves once after the loop rather than appending two values on every bar.
    changed_at, cash_at, qty_at = [0], [cash_f], [0.0]
    strategy.take_intents()  # nothing left over from an earlier run of the same instance
    warmup = cfg.warmup_bars
    with heap_frozen_for_collector():
        for i in range(n):
            if working:
                bar = _tuple(BarValues, (open_m[i], high_m[i], low_m[i], close_m[i], volume_m[i]))
                still: list[_Working] = []
                for w in working:
                    order = w.order
                    decision = evaluate(order, bar)
                    if decision is None:
                        still.append(w)
                        continue
                    filled = decision.qty
                    if filled > ZERO:
                        fill = _tuple(Fill, (i, order.side, filled, decision.price, decision.fee, w.reason))
                        fills.append(fill)
                        book_fill(books, fill, time_m, trades)
                        held = books.qty
                        cash_f, qty_f = float(books.cash), float(held)
                        account.cash, account.position = cash_f, qty_f
                        account.position_price = float(books.cost / held) if held else math.nan
                        if changed_at[-1] == i:
                            cash_at[-1], qty_at[-1] = cash_f, qty_f
                        else:
                            changed_at.append(i)
                            cash_at.append(cash_f)
                            qty_at.append(qty_f)
                        left = order.qty - filled
                        if left > ZERO:
                            still.append(_Working(_with(order, left, decision.triggered), w.placed, w.reason))
                    elif decision.triggered:
                        still.append(_Working(_with(order, order.qty, True), w.placed, w.reason))
                working = still
            clock.i = i
            decide(lagged)
            if intents:
                if i < warmup:
                    intents.clear()
                    continue
                value = cash_f + qty_f * close_m[i]
                for intent in intents:  # _place never calls the strategy: the list cannot change under us
                    working = _place(intent, working, books, close_m[i], value, cfg, rejections)
                intents.clear()
    runs = np.diff(np.array([*changed_at, n]))
    held_curve = np.repeat(np.array(qty_at, dtype=np.float64), runs)
    equity = np.repeat(np.array(cash_at, dtype=np.float64), runs)
    equity += held_curve * closes  # as cash_f + qty_f * close
    if cfg.close_at_end and n and books.qty > 0:
        price = float_decimal(closes[-1])
        last = Fill(n - 1, OrderSide.SELL, books.qty, price, fee_of(price, books.qty), "end_of_data")
        book_fill(books, last, times, trades)
        fills.append(last)
        equity[-1] = float(books.cash)
    return BacktestRun(times, equity, held_curve, fills, trades, rejections, books.cash, cfg.starting_cash)


def float_decimal(x: float) -> Decimal:
    """A float as the Decimal of its shortest repr (10.1 -> Decimal('10.1'), not the binary expansion)."""
    return Decimal(repr(float(x)))


def _with(order: WorkingOrder, qty: Decimal, triggered: bool) -> WorkingOrder:
    return WorkingOrder(order.side, order.type, qty, order.limit_price, order.stop_price, triggered)


def _shares(amount: float, price: float, fractional: bool) -> Decimal:
    if not (price > 0 and math.isfinite(amount)):
        return ZERO
    shares = amount / price
    if not math.isfinite(shares):  # a price so small that the division overflows
        return ZERO
    if not fractional:
        # the floor of the float is the floor of its shortest decimal (no integer lies between the two)
        return Decimal(math.floor(shares))
    return float_decimal(shares).quantize(Decimal("0.000000001"), ROUND_FLOOR)


def _place(
    intent: OrderIntent, working: list[_Working], books: Books, close: float, equity: float, cfg: BacktestConfig,
    rejections: list[Rejection],
) -> list[_Working]:  # fmt: skip
    """Size an intent at this bar's close and queue its order(s) for the next bar."""
    kind, bar, shares, percent, value, limit, stop, _, _, tag = intent
    if kind is _CANCEL_ALL:
        return []
    ref = limit or stop or close
    fractional = cfg.fractional
    pending_buys = pending_sells = ZERO
    if working and kind is not _TARGET:  # a target replaces the working orders
        pending_buys = sum((w.order.qty for w in working if w.order.side is _BUY), ZERO)
        pending_sells = sum((w.order.qty for w in working if w.order.side is _SELL), ZERO)
    if kind is _TARGET:
        working = []  # a target replaces whatever was working
        if shares is not None:
            target = float_decimal(shares)
        elif percent is not None:
            target = _shares(equity * percent, ref, fractional)
        else:
            target = _shares(float(value or 0), ref, fractional)
        if target < ZERO:
            rejections.append(Rejection(bar, "shorting is not supported (target below zero)"))
            return working
        delta = target - books.qty
        side = _BUY if delta > ZERO else _SELL
        qty = abs(delta)
    else:
        side = _BUY if kind is _BUY_INTENT else _SELL
        if shares is not None:
            qty = float_decimal(shares)
        elif percent is not None:
            base = float(books.cash) if side is _BUY else float(books.qty - pending_sells) * ref
            qty = _shares(base * percent, ref, fractional)
        else:
            qty = _shares(float(value or 0), ref, fractional)
    if qty <= ZERO:
        return working
    if side is _SELL and qty > books.qty - pending_sells:
        rejections.append(Rejection(bar, f"cannot sell {qty}: only {books.qty - pending_sells} held"))
        return working
    if side is _BUY:
        # What the ledger would reserve: the limit, or the last price plus its collar for market and stop buys.
        reserve = limit if limit else ref * _COLLARED
        spare = float(books.cash) - float(pending_buys) * reserve if pending_buys else float(books.cash)
        affordable = _shares(spare, reserve, fractional)
        if affordable <= ZERO:
            rejections.append(Rejection(bar, "not enough cash"))
            return working
        if affordable < qty:
            qty = affordable
    if not (limit or stop):
        order = WorkingOrder(side, _MARKET, qty)
    else:
        order_type = OrderType.STOP_LIMIT if stop and limit else OrderType.STOP if stop else OrderType.LIMIT
        order = WorkingOrder(
            side, order_type, qty, float_decimal(limit) if limit else None, float_decimal(stop) if stop else None
        )
    placed = _tuple(_Working, (order, bar, tag or "signal"))
    if working:
        return [*working, placed]
    return [placed]


def book_fill(books: Books, fill: Fill, times: Sequence[float] | np.ndarray, trades: list[RoundTrip]) -> None:
    """Apply a fill as the ledger does (cash, exact cost basis, realised P&L) and track the round trip.
    ``times``: the bars' times (a memoryview of them reads fastest)."""
    qty, fee = fill.qty, fill.fee
    notional = qty * fill.price
    held = books.qty
    if fill.side is _BUY:
        if not held:
            books.opened = fill.bar
            books.peak = books.bought = books.bought_value = books.sold = books.sold_value = ZERO
            books.realized = books.fees = ZERO
        books.cash -= notional + fee
        books.qty = held = held + qty
        books.cost += notional
        books.bought += qty
        books.bought_value += notional
        if held > books.peak:
            books.peak = held
    else:
        removed = books.cost if qty == held else books.cost * qty / held
        books.cash += notional - fee
        books.realized += notional - removed
        books.qty = held = held - qty
        books.cost -= removed
        books.sold += qty
        books.sold_value += notional
    books.fees += fee
    books.realized -= fee
    if not held and books.opened >= 0:
        trades.append(
            _tuple(RoundTrip, (
                books.opened, fill.bar, float(times[books.opened]), float(times[fill.bar]), books.peak,
                books.bought_value / books.bought, books.sold_value / books.sold, books.realized, books.fees,
                fill.reason,
            ))
        )  # fmt: skip
        books.opened = -1
