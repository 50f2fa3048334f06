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
the ledger's 3% collar for market and stop buys), and the trim is noted in
``BacktestRun.notices``; a gap beyond the collar may still take cash below
zero, as it can in the ledger.

Intents are sized as a paper session sizes them (``core.paper.sizing``) against
its book: fraction-of-cash buys and affordability from the cash the working buys'
reservations leave (each reserved as the ledger reserves it), sells against the
shares working sells and bracket exits do not already promise, and sizes equal to
the session's Decimal arithmetic (floats only where they settle it). A buy with a
stop-loss and a take-profit is a bracket, as the SimBroker runs one: once the
entry has filled, its two exits (a LIMIT and a STOP sell of what it bought) work
from the next bar, are evaluated together with ``evaluate_bracket_exit``, the
first fill of one cancels the other, and a target or CANCEL_ALL leaves them (it
cancels only the working orders; a partly filled bracket entry it cancels leaves
exits for what it bought). Brackets cost nothing while none is working.
``BacktestRun.orders`` lists the orders placed (``core.paper.parity`` compares
them with a session's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, ROUND_UP, Decimal
from typing import NamedTuple

import numpy as np

from core.backtest.collector import heap_frozen_for_collector
from core.backtest.metrics import Metrics, TradeColumns, compute_metrics
from core.broker.fill_model import BracketLeg, FillDecision, FillModel, WorkingOrder, evaluate_bracket_exit
from core.broker.fill_prices import is_on_tick
from core.domain.money import MARKET_COLLAR, MONEY_PLACES, money
from core.domain.orders import OrderSide, OrderType
from core.strategy.api import Account, BarData, IntentKind, OrderIntent, Strategy

ZERO = Decimal(0)
_BUY, _SELL = OrderSide.BUY, OrderSide.SELL
_MARKET = OrderType.MARKET
# The tuple types a run builds per trade are made with ``tuple.__new__(Type, values)``, as NamedTuple's own
# ``_make`` does: half the cost of calling the type, whose generated ``__new__`` is a Python function. The values
# are given in field order, in full.
_tuple = tuple.__new__
_TARGET, _BUY_INTENT, _CANCEL_ALL = IntentKind.TARGET, IntentKind.BUY, IntentKind.CANCEL_ALL
_COLLAR = 1 + MARKET_COLLAR  # a market or stop buy reserves the last price (a stop's stop) times this
_COLLARED = float(_COLLAR)
_FRACTION = Decimal("0.000000001")  # the ledger's 9 quantity decimals
_EDGE = 1e-6  # a float quotient closer than this to a whole number is settled by the exact Decimals


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


class PlacedOrder(NamedTuple):
    """An order a run placed: the bar whose close decided it and what it asked for (a live session's order)."""

    bar: int
    side: OrderSide
    type: OrderType
    qty: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    take_profit: Decimal | None
    stop_loss: Decimal | None
    reason: str


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
    orders: list[PlacedOrder] = field(default_factory=list)  # every order placed, in order (brackets' legs not)
    # What was placed other than asked, said rather than done quietly: a buy cut to what the cash covers.
    notices: list[Rejection] = field(default_factory=list)

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
    reserve_at: float  # a buy without a limit: the price its reservation was collared from (the close, or stop)
    bracket: tuple[Decimal, Decimal] | None  # a bracket entry's (take-profit, stop-loss)
    filled: Decimal  # shares of it filled so far (a bracket's exits protect them if it is cancelled)
    used: Decimal  # what its fills took off its reservation (notional and fees)


class _Leg(NamedTuple):
    """A bracket's exits, working from bar ``eligible`` on: the take-profit (LIMIT) and stop-loss (STOP) sells
    of the shares its entry bought, the first to fill cancelling the other (None once gone). Unlike the working
    orders, a target or CANCEL_ALL leaves them: they protect a position, as a session's bracket legs do."""

    take_profit: WorkingOrder | None
    stop_loss: WorkingOrder | None
    eligible: int
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
    orders: list[PlacedOrder] = []
    notices: list[Rejection] = []
    working: list[_Working] = []
    legs: list[_Leg] = []  # bracket exits
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
                        cash_f, qty_f = _mark_fill(books, account, i, changed_at, cash_at, qty_at)
                        left = order.qty - filled
                        if left > ZERO:
                            still.append(_partly_filled(w, left, decision))
                        elif w.bracket is not None:  # its exits work from the next bar, for all it bought
                            legs.append(_legs_of(w, w.filled + filled, i + 1))
                    elif decision.triggered:
                        still.append(w._replace(order=_with(order, order.qty, True)))
                working = still
            if legs:  # brackets' exits, off the loop's path while none is working
                bar = _tuple(BarValues, (open_m[i], high_m[i], low_m[i], close_m[i], volume_m[i]))
                legs, exits = _exit_legs(legs, i, bar, cfg.fill_model)
                for fill in exits:
                    fills.append(fill)
                    book_fill(books, fill, time_m, trades)
                    cash_f, qty_f = _mark_fill(books, account, i, changed_at, cash_at, qty_at)
            clock.i = i
            decide(lagged)
            if intents:
                if i < warmup:
                    intents.clear()
                    continue
                value = cash_f + qty_f * close_m[i]
                for intent in intents:  # _place never calls the strategy: the list cannot change under us
                    working = _place(intent, working, legs, books, close_m[i], value, cfg, rejections, orders,
                                     notices)  # fmt: skip
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
    return BacktestRun(times, equity, held_curve, fills, trades, rejections, books.cash, cfg.starting_cash, orders,
                       notices)  # fmt: skip


def float_decimal(x: float) -> Decimal:
    """A float as the Decimal of its shortest repr (10.1 -> Decimal('10.1'), not the binary expansion)."""
    return Decimal(repr(float(x)))


def _with(order: WorkingOrder, qty: Decimal, triggered: bool) -> WorkingOrder:
    return WorkingOrder(order.side, order.type, qty, order.limit_price, order.stop_price, triggered)


def _mark_fill(books: Books, account: Account, i: int, changed_at: list[int], cash_at: list[float],
               qty_at: list[float]) -> tuple[float, float]:  # fmt: skip
    """After a fill at bar ``i``: tell the strategy's account, note the bar in the curves' change points, and
    return the float cash and shares the loop keeps."""
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
    return cash_f, qty_f


def _partly_filled(w: _Working, left: Decimal, decision: FillDecision) -> _Working:
    """What still works of ``w`` after a partial fill (the fill's cost comes off a buy's reservation)."""
    assert decision.price is not None
    used = w.used + money(decision.qty * decision.price) + decision.fee if w.order.side is _BUY else w.used
    order = _with(w.order, left, decision.triggered)
    return _tuple(_Working, (order, w.placed, w.reason, w.reserve_at, w.bracket, w.filled + decision.qty, used))


def _reservation(w: _Working) -> Decimal:
    """What the ledger still reserves for working buy ``w``: its whole quantity at its limit, or at the price it
    was placed at plus the collar (market and stop buys), rounded up, less what its fills used (never below 0).
    Worked out only when a later intent needs it: most orders fill before another intent comes."""
    order = w.order
    price = order.limit_price if order.limit_price is not None else float_decimal(w.reserve_at) * _COLLAR
    held = ((order.qty + w.filled) * price).quantize(MONEY_PLACES, ROUND_UP)
    return held - w.used if held > w.used else ZERO


def _legs_of(w: _Working, qty: Decimal, eligible: int) -> _Leg:
    """The exits of bracket entry ``w`` for the ``qty`` shares it bought, working from bar ``eligible``."""
    assert w.bracket is not None
    take_profit, stop_loss = w.bracket
    return _Leg(WorkingOrder(_SELL, OrderType.LIMIT, qty, take_profit),
                WorkingOrder(_SELL, OrderType.STOP, qty, None, stop_loss), eligible, w.reason)  # fmt: skip


def _cancelled(working: list[_Working], legs: list[_Leg], bar: int) -> list[_Working]:
    """Cancel the working orders (a target or CANCEL_ALL): a bracket entry that bought some of its shares leaves
    its exits protecting them from the next bar, as the broker activates them for the filled quantity."""
    for w in working:
        if w.bracket is not None and w.filled > ZERO:
            legs.append(_legs_of(w, w.filled, bar + 1))
    return []


def _exit_legs(legs: list[_Leg], i: int, bar: BarValues, model: FillModel) -> tuple[list[_Leg], list[Fill]]:
    """Bar ``i`` for the brackets' exits, as the SimBroker evaluates them: both exits together
    (``evaluate_bracket_exit``: the stop-loss first when the bar cannot tell), the first fill of one cancelling
    the other; what is left of a partly filled exit keeps working alone."""
    still: list[_Leg] = []
    exits: list[Fill] = []
    for leg in legs:
        if i < leg.eligible:
            still.append(leg)
            continue
        tp, sl = leg.take_profit, leg.stop_loss
        if tp is not None and sl is not None:
            exit_ = evaluate_bracket_exit(model, tp, sl, bar)
            if exit_ is None:
                still.append(leg)
                continue
            take = exit_.leg is BracketLeg.TAKE_PROFIT
            order, decision = (tp if take else sl), exit_.decision
        else:
            lone = tp if tp is not None else sl
            assert lone is not None
            order, take = lone, lone is tp
            found = model.evaluate(order, bar)
            if found is None:
                still.append(leg)
                continue
            decision = found
        triggered = decision.triggered or order.stop_triggered
        if decision.qty > ZERO:
            assert decision.price is not None
            name = BracketLeg.TAKE_PROFIT if take else BracketLeg.STOP_LOSS
            exits.append(_tuple(Fill, (i, order.side, decision.qty, decision.price, decision.fee, name.value)))
            left = order.qty - decision.qty
            if left > ZERO:  # the other exit is cancelled by this one's first fill
                rest = _with(order, left, triggered)
                still.append(_Leg(rest if take else None, None if take else rest, leg.eligible, leg.reason))
        elif triggered:  # a stop-limit stop-loss that triggered without filling
            marked = _with(order, order.qty, True)
            still.append(leg._replace(take_profit=marked) if take else leg._replace(stop_loss=marked))
        else:
            still.append(leg)
    return still, exits


def _whole(amount: float, price: float) -> int | None:
    """floor(amount / price) from floats when the quotient is clearly between two whole numbers (0 for nothing
    to buy), else None: the caller then divides the exact Decimals (``_exact_shares``), so that a float a hair
    below a whole number never buys one share fewer than the paper session's Decimal sizing buys."""
    if not (price > 0 and math.isfinite(amount)) or amount <= 0:
        return 0
    q = amount / price
    if not math.isfinite(q):  # a price so small that the division overflows
        return 0
    whole = math.floor(q)
    return whole if _EDGE < q - whole < 1 - _EDGE else None


def _exact_shares(amount: Decimal, price: Decimal, fractional: bool) -> Decimal:
    """``core.paper.sizing.shares_for``: how many shares ``amount`` buys at ``price``, rounded down."""
    if price <= 0 or not amount.is_finite() or amount <= 0:
        return ZERO
    raw = amount / price
    return raw.quantize(_FRACTION, ROUND_FLOOR) if fractional else raw.to_integral_value(ROUND_FLOOR)


def _bracket(limit: float | None, stop: float | None, take_profit: float | None, stop_loss: float | None,
             ) -> tuple[Decimal, Decimal] | str:  # fmt: skip
    """A buy's take-profit and stop-loss, or why the broker would refuse the bracket (``sim_orders``' rules)."""
    if take_profit is None or stop_loss is None:
        return "a bracket needs both a take-profit and a stop-loss"
    if stop:
        return "a bracket entry must be a market or limit order"
    tp, sl = float_decimal(take_profit), float_decimal(stop_loss)
    if not (is_on_tick(tp) and is_on_tick(sl)):
        return f"bracket prices {tp} and {sl} must be on a tick"
    if not tp > sl:
        return f"buy bracket: take-profit {tp} must be above stop-loss {sl}"
    if limit and not tp > float_decimal(limit) > sl:
        return f"buy bracket: need take-profit {tp} > entry limit {limit} > stop-loss {sl}"
    return tp, sl


def _place(
    intent: OrderIntent, working: list[_Working], legs: list[_Leg], books: Books, close: float, equity: float,
    cfg: BacktestConfig, rejections: list[Rejection], orders: list[PlacedOrder], notices: list[Rejection],
) -> list[_Working]:  # fmt: skip
    """Size an intent at this bar's close and queue its order(s) for the next bar, as a paper session sizes it
    (``core.paper.sizing``) against its book: cash less its working buys' reservations, its position less the
    shares its working sells (and brackets' exits) promise."""
    kind, bar, shares, fraction, value, limit, stop, stop_loss, take_profit, tag = intent
    if kind is _CANCEL_ALL or (kind is _TARGET and working):  # a target replaces what was working
        working = _cancelled(working, legs, bar) if working else working
        if kind is _CANCEL_ALL:
            return working
    ref = limit or stop or close
    fractional = cfg.fractional
    reserved = pending_sells = ZERO
    for w in working:
        if w.order.side is _BUY:
            reserved += _reservation(w)
        else:
            pending_sells += w.order.qty
    for leg in legs:  # one exit or the other sells the shares: they promise them once
        pending_sells += (leg.take_profit or leg.stop_loss).qty  # type: ignore[union-attr]
    cash = books.cash - reserved if reserved else books.cash
    # Sizes as core.paper.sizing computes them in Decimals, from floats where they settle it (``_whole``).
    if kind is _TARGET:
        if (shares if shares is not None else fraction if fraction is not None else value or 0) < 0:
            rejections.append(Rejection(bar, "shorting is not supported (target below zero)"))
            return working
        if shares is not None:
            target = float_decimal(shares)
        else:
            amount = equity * fraction if fraction is not None else float(value or 0)
            whole = None if fractional else _whole(amount, ref)
            if whole is not None:
                target = Decimal(whole) if whole else ZERO
            else:
                exact = ((books.cash + books.qty * float_decimal(close)) * float_decimal(fraction)
                         if fraction is not None else float_decimal(value or 0))  # fmt: skip
                target = _exact_shares(exact, float_decimal(ref), fractional)
        delta = target - books.qty
        side = _BUY if delta > ZERO else _SELL
        qty = abs(delta)
    else:
        side = _BUY if kind is _BUY_INTENT else _SELL
        if shares is not None:
            qty = float_decimal(shares)
        else:
            free = books.qty - pending_sells
            amount = (float(cash if side is _BUY else free) * (1.0 if side is _BUY else ref) * fraction
                      if fraction is not None else float(value or 0))  # fmt: skip
            whole = None if fractional else _whole(amount, ref)
            if whole is not None:
                qty = Decimal(whole) if whole else ZERO
            else:
                at = float_decimal(ref)
                exact = ((cash if side is _BUY else free * at) * float_decimal(fraction)
                         if fraction is not None else float_decimal(value or 0))  # fmt: skip
                qty = _exact_shares(exact, at, fractional)
    if qty <= ZERO:
        return working
    if side is _SELL and qty > books.qty - pending_sells:
        rejections.append(Rejection(bar, f"cannot sell {qty}: only {books.qty - pending_sells} held"))
        return working
    if side is _BUY:
        # What the ledger reserves: the limit, or the last price (a stop's stop) plus its collar for market and
        # stop buys; the session sizes against its cash less what its working buys already reserve.
        whole = None if fractional else _whole(float(cash), limit if limit else ref * _COLLARED)
        if whole is not None:
            affordable = Decimal(whole) if whole else ZERO
        else:
            reserve = float_decimal(limit) if limit else float_decimal(ref) * _COLLAR
            affordable = _exact_shares(cash, reserve, fractional)
        if affordable <= ZERO:
            rejections.append(Rejection(bar, "not enough cash"))
            return working
        if affordable < qty:
            asked, fits = qty.normalize(), affordable.normalize()
            notices.append(Rejection(bar, f"buy of {asked:f} trimmed to {fits:f}: the cash covers no more"))
            qty = affordable
    bracket = None
    if side is _BUY and (take_profit or stop_loss):
        checked = _bracket(limit, stop, take_profit, stop_loss)
        if isinstance(checked, str):
            rejections.append(Rejection(bar, checked))
            return working
        bracket = checked
    if not (limit or stop):
        order = WorkingOrder(side, _MARKET, qty)
    else:
        order_type = OrderType.STOP_LIMIT if stop and limit else OrderType.STOP if stop else OrderType.LIMIT
        order = WorkingOrder(
            side, order_type, qty, float_decimal(limit) if limit else None, float_decimal(stop) if stop else None
        )
    placed = _tuple(_Working, (order, bar, tag or "signal", ref, bracket, ZERO, ZERO))
    tp, sl = bracket or (None, None)
    orders.append(_tuple(PlacedOrder, (bar, side, order.type, qty, order.limit_price, order.stop_price, tp, sl,
                                       placed.reason)))  # fmt: skip
    if working:
        return [*working, placed]
    return [placed]


def _ref(limit: float | None, stop: float | None, close: float) -> Decimal:
    """The price an intent is sized at, as a Decimal: its limit, else its stop, else the bar's close."""
    return float_decimal(limit or stop or close)


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
