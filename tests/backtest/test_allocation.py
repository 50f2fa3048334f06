"""Allocation strategies: the spec, the calendar's rebalance days, the pure decision and the multi-symbol backtest."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import numpy as np
import pytest

from core.backtest.allocation import (
    AllocationError,
    AllocationSpec,
    RebalanceOrder,
    Rebalancer,
    RebalanceSchedule,
    current_weights,
    plan_rebalance,
    run_allocation_backtest,
)
from core.backtest.engine import BacktestConfig, run_backtest
from core.broker.fill_costs import PerShareCommission
from core.broker.fill_model import FillModel
from core.domain.orders import OrderSide
from core.market.calendar import NEW_YORK, TradingCalendar
from core.strategy.api import BarData, Strategy

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
SIXTY_FORTY = {"SPY": D("0.6"), "TLT": D("0.4")}
CAL = TradingCalendar(2025)


def sessions(first: date, last: date) -> list[date]:
    return CAL.trading_days(datetime.combine(first, time(12), NEW_YORK), datetime.combine(last, time(13), NEW_YORK))


def daily(symbol: str, days: list[date], close, open_=None) -> BarData:
    """Daily bars stamped at New York midnight, as Alpaca stamps them."""
    close = np.asarray(close, dtype=np.float64)
    open_ = close if open_ is None else np.asarray(open_, dtype=np.float64)
    t = [datetime.combine(d, time(0), NEW_YORK).timestamp() for d in days]
    high, low = np.maximum(open_, close), np.minimum(open_, close)
    return BarData.from_arrays(symbol, t, open_, high, low, close, np.full(len(days), 1e6))


def walk(n: int, seed: int, gap: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]]) * (1 + rng.uniform(-gap, gap, n))
    return open_, close


def book(spec: AllocationSpec, days: list[date], seed: int = 0, gap: float = 0.0, **cfg) -> tuple:
    bars = {}
    for k, symbol in enumerate(spec.symbols):
        o, c = walk(len(days), seed + k, gap)
        bars[symbol] = daily(symbol, days, c, o)
    return bars, run_allocation_backtest(spec, bars, BacktestConfig(**cfg), calendar=CAL)


# ---- the spec ------------------------------------------------------------------------------------------------


def test_the_seed_elements_parse_to_decimal_weights_and_back():
    elements = [
        {"type": "ticker", "ticker": "spy", "weight": "0.6"},
        {"type": "ticker", "ticker": "TLT", "weight": "0.3"},
    ]
    spec = AllocationSpec.from_elements(elements, rebalance="weekly", at=time(10, 0), benchmark="QQQ")
    assert dict(spec.weights) == {"SPY": D("0.6"), "TLT": D("0.3")}
    assert (spec.rebalance, spec.at, spec.benchmark, spec.cash_weight) == ("weekly", time(10), "QQQ", D("0.1"))
    assert spec.to_elements()[0] == {"type": "ticker", "ticker": "SPY", "weight": "0.6"}
    assert AllocationSpec.from_elements(spec.to_elements(), rebalance="weekly", at=time(10), benchmark="QQQ") == spec
    with pytest.raises(TypeError):
        spec.weights["SPY"] = D(1)  # type: ignore[index]


@pytest.mark.parametrize(
    ("elements", "message"),
    [
        ([{"type": "ticker", "ticker": "SPY", "weight": "0.7"}, {"type": "ticker", "ticker": "TLT", "weight": "0.4"}],
         "add up to 1.1"),
        ([{"type": "ticker", "ticker": "SPY", "weight": "0"}], "weight of SPY must be above 0"),
        ([{"type": "ticker", "ticker": "SPY", "weight": "-0.2"}], "weight of SPY must be above 0"),
        ([{"type": "ticker", "ticker": "SPY", "weight": "lots"}], "not a number"),
        ([{"type": "ticker", "ticker": "SPY", "weight": 0.5}], "written as text"),
        ([{"type": "ticker", "ticker": "SPY"}], "has no weight"),
        ([{"type": "group", "name": "bonds", "weight": "0.5"}], "type 'group'; only 'ticker'"),
        ([{"type": "ticker", "ticker": "SP Y", "weight": "0.5"}], "not a valid ticker"),
        ([{"type": "ticker", "ticker": "SPY", "weight": "0.2"}, {"type": "ticker", "ticker": "spy", "weight": "0.2"}],
         "SPY appears more than once"),
        ([], "at least one ticker"),
    ],
)  # fmt: skip
def test_bad_elements_are_refused_with_a_message_that_says_why(elements, message):
    with pytest.raises(AllocationError, match=message):
        AllocationSpec.from_elements(elements)


def test_bad_settings_are_refused():
    with pytest.raises(AllocationError, match="rebalance must be one of daily, weekly, monthly"):
        AllocationSpec(SIXTY_FORTY, rebalance="hourly")
    with pytest.raises(AllocationError, match="drift threshold"):
        AllocationSpec(SIXTY_FORTY, drift_threshold=D("1.5"))
    with pytest.raises(AllocationError, match="benchmark"):
        AllocationSpec(SIXTY_FORTY, benchmark="")
    assert AllocationSpec(SIXTY_FORTY, drift_threshold=0.05).drift_threshold == D("0.05")  # type: ignore[arg-type]
    assert isinstance(AllocationError("x"), ValueError)


# ---- the calendar ---------------------------------------------------------------------------------------------


def test_the_moment_is_clamped_into_regular_hours_and_early_closes():
    sched = RebalanceSchedule("daily", time(15, 55), CAL)
    assert sched.moment(date(2024, 7, 2)) == datetime(2024, 7, 2, 15, 55, tzinfo=NEW_YORK)
    assert sched.moment(date(2024, 7, 3)) == datetime(2024, 7, 3, 12, 59, tzinfo=NEW_YORK)  # early close at 13:00
    assert sched.moment(date(2024, 7, 4)) is None  # Independence Day
    assert RebalanceSchedule("daily", time(8), CAL).moment(date(2024, 7, 2)) == datetime(
        2024, 7, 2, 9, 30, tzinfo=NEW_YORK
    )


def test_a_rebalance_missed_on_the_first_session_is_caught_up_in_the_same_period():
    """A live session that was off on the month's first session rebalances on the next one, once."""
    sched = RebalanceSchedule("monthly", time(15, 55), CAL)
    at = datetime(2024, 5, 14, 16, 0, tzinfo=NEW_YORK)
    assert sched.due(date(2024, 5, 14), at, last=date(2024, 4, 1))
    assert not sched.due(date(2024, 5, 14), at, last=date(2024, 5, 13))
    assert not sched.due(date(2024, 5, 14), at - timedelta(minutes=10), last=date(2024, 4, 1))  # before 15:55
    assert sched.due(date(2024, 5, 14), at, last=None)


def test_weekly_rebalances_on_the_first_session_of_each_week_holidays_included():
    days = sessions(date(2024, 5, 15), date(2024, 9, 10))
    spec = AllocationSpec(SIXTY_FORTY, rebalance="weekly")
    _, run = book(spec, days)
    got = [r.decision.session for r in run.rebalances]
    mondays = ["05-20", "05-28", "06-03", "06-10", "06-17", "06-24", "07-01", "07-08", "07-15", "07-22", "07-29",
               "08-05", "08-12", "08-19", "08-26", "09-03", "09-09"]  # fmt: skip
    # The first session invests the cash; Memorial Day (05-27) and Labor Day (09-02) move the week to Tuesday.
    assert got == [date(2024, 5, 15)] + [date.fromisoformat(f"2024-{md}") for md in mondays]
    assert got[1:] == RebalanceSchedule("weekly", time(15, 55), CAL).first_sessions(days[1], days[-1])
    # Each decision is taken at the close of that session's bar.
    assert [days[r.bar] for r in run.rebalances] == got


def test_monthly_rebalances_on_the_first_session_of_each_month():
    days = sessions(date(2023, 12, 15), date(2024, 9, 10))
    _, run = book(AllocationSpec(SIXTY_FORTY, rebalance="monthly"), days)
    got = [r.decision.session.isoformat() for r in run.rebalances]
    assert got == ["2023-12-15", "2024-01-02", "2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01", "2024-06-03",
                   "2024-07-01", "2024-08-01", "2024-09-03"]  # fmt: skip


def minute_bars(symbol: str, spans: list[tuple[date, time, int]], price: float) -> BarData:
    t = [
        (datetime.combine(d, start, NEW_YORK) + timedelta(minutes=m)).timestamp()
        for d, start, count in spans
        for m in range(count)
    ]
    n = len(t)
    close = np.round(price + 0.02 * np.arange(n), 2)
    open_ = np.round(close - 0.01, 2)
    return BarData.from_arrays(symbol, t, open_, close, open_, close, np.full(n, 1e6))


def test_daily_minute_bars_decide_at_the_first_bar_reaching_the_time_and_fill_on_the_next():
    spans = [(date(2024, 7, 2), time(15, 50), 10), (date(2024, 7, 3), time(12, 50), 10),
             (date(2024, 7, 5), time(15, 50), 10)]  # fmt: skip
    bars = {s: minute_bars(s, spans, p) for s, p in (("SPY", 500.0), ("TLT", 90.0))}
    run = run_allocation_backtest(AllocationSpec(SIXTY_FORTY, rebalance="daily"), bars, calendar=CAL)
    clock = [datetime.fromtimestamp(run.times[r.bar], NEW_YORK) for r in run.rebalances]
    # The bar opening 15:54 closes at 15:55; on the early close the moment is 12:59.
    assert [c.strftime("%m-%d %H:%M") for c in clock] == ["07-02 15:54", "07-03 12:58", "07-05 15:54"]
    first = run.rebalances[0].bar
    fills = [f.fill for f in run.fills if f.fill.reason == "rebalance"]
    assert {f.bar for f in fills[:2]} == {first + 1}
    assert fills[0].price == D(repr(float(bars["SPY"].open[first + 1])))


# ---- the decision ---------------------------------------------------------------------------------------------


def test_the_plan_reserves_buys_with_the_collar_and_trims_them_alike():
    closes = {"SPY": D(100), "TLT": D(50)}
    plan = plan_rebalance(SIXTY_FORTY, closes, {}, D(10000))
    # Wanted 60 and 80 shares; reserving 103% of each needs 10,300, so each gets its share of the 10,000:
    # SPY 6,000 / 103 -> 58, TLT 4,000 / 51.5 -> 77.
    assert plan.orders == (RebalanceOrder("SPY", BUY, D(58)), RebalanceOrder("TLT", BUY, D(77)))
    assert plan.trimmed
    assert plan_rebalance({"SPY": D("0.5")}, closes, {}, D(10000)).orders == (RebalanceOrder("SPY", BUY, D(50)),)


def test_sells_come_first_and_pay_for_the_buys_at_the_collar_below_their_close():
    closes = {"SPY": D(100), "TLT": D(50), "GLD": D(20)}
    plan = plan_rebalance(SIXTY_FORTY, closes, {"SPY": D(90), "GLD": D(50)}, D(0))
    # Equity 10,000: SPY 60 (sell 30), GLD is not in the allocation (sell all 50), TLT wants 80 shares.
    # The sells free (3,000 + 1,000) * 0.97 = 3,880, enough for 75 TLT at 51.5.
    assert plan.orders == (
        RebalanceOrder("GLD", SELL, D(50)),
        RebalanceOrder("SPY", SELL, D(30)),
        RebalanceOrder("TLT", BUY, D(75)),
    )
    fractional = plan_rebalance({"SPY": D("0.5")}, {"SPY": D(300)}, {}, D(1000), fractional=True)
    assert fractional.orders[0].qty == D("1.666666666")
    with pytest.raises(ValueError, match="no price for TLT"):
        plan_rebalance(SIXTY_FORTY, {"SPY": D(100)}, {}, D(1000))


def test_a_due_rebalance_inside_the_drift_band_is_skipped():
    spec = AllocationSpec(SIXTY_FORTY, rebalance="daily", drift_threshold=D("0.05"))
    r = Rebalancer(spec, calendar=CAL)
    now, day = datetime(2024, 7, 2, 16, tzinfo=NEW_YORK), date(2024, 7, 2)
    closes, held = {"SPY": D(100), "TLT": D(100)}, {"SPY": D(62), "TLT": D(37)}
    inside = r.decide(day, now, date(2024, 7, 1), closes, held, D(100))
    assert inside is not None and inside.skipped and inside.orders == ()
    outside = r.decide(day, now, date(2024, 7, 1), {"SPY": D(120), "TLT": D(100)}, held, D(100))
    assert outside is not None and not outside.skipped and outside.orders[0] == RebalanceOrder("SPY", SELL, D(6))
    assert r.decide(day, now, day, closes, held, D(100)) is None  # already done today


def test_drift_threshold_skips_rebalances_in_a_backtest_until_the_book_drifts_out():
    days = sessions(date(2024, 6, 3), date(2024, 8, 30))
    n = len(days)
    spy = np.where(np.arange(n) < 30, 100.0, 150.0)  # flat, then a jump: 60/40 becomes about 69/31
    bars = {"SPY": daily("SPY", days, spy), "TLT": daily("TLT", days, np.full(n, 100.0))}
    spec = AllocationSpec(SIXTY_FORTY, rebalance="weekly", drift_threshold=D("0.05"))
    run = run_allocation_backtest(spec, bars, calendar=CAL)
    skipped = [r.decision.skipped for r in run.rebalances]
    jump = next(i for i, r in enumerate(run.rebalances) if r.bar >= 30)
    assert not skipped[0] and all(skipped[1:jump]) and not skipped[jump]
    first = run.rebalances[jump].decision.orders[0]
    assert (first.symbol, first.side) == ("SPY", SELL)
    plain = run_allocation_backtest(AllocationSpec(SIXTY_FORTY, rebalance="weekly"), bars, calendar=CAL)
    assert not any(r.decision.skipped for r in plain.rebalances)


# ---- the backtest ---------------------------------------------------------------------------------------------


def test_orders_fill_at_the_next_bar_open_of_their_own_symbol():
    days = sessions(date(2024, 7, 1), date(2024, 7, 12))
    spy = daily("SPY", days, [100, 101, 102, 103, 104, 105, 106, 107, 108], [99, 100.5, 101.5, 102, 103, 104, 105,
                                                                                106, 107])  # fmt: skip
    tlt_days = [d for d in days if d != date(2024, 7, 2)]  # TLT has no bar the day after the first decision
    tlt = daily("TLT", tlt_days, [50, 51, 52, 53, 54, 55, 56, 57], [49, 50.5, 51.5, 52, 53, 54, 55, 56])
    run = run_allocation_backtest(AllocationSpec(SIXTY_FORTY, rebalance="monthly"), {"SPY": spy, "TLT": tlt},
                                  calendar=CAL)  # fmt: skip
    first = [f for f in run.fills if f.fill.reason == "rebalance"]
    assert [(f.symbol, days[f.fill.bar], f.fill.price) for f in first] == [
        ("SPY", date(2024, 7, 2), D("100.5")),  # SPY's next bar
        ("TLT", date(2024, 7, 3), D("50.5")),  # TLT waits for its own next bar; its close carried meanwhile
    ]
    assert run.equity[1] == pytest.approx(float(run.cash[1]) + float(first[0].fill.qty) * 101)


def test_changing_bars_after_a_decision_changes_nothing_before_it():
    days = sessions(date(2024, 5, 1), date(2024, 8, 30))
    spec = AllocationSpec(SIXTY_FORTY, rebalance="weekly")
    bars, run = book(spec, days, seed=4, gap=0.01)
    cut = run.rebalances[5].bar
    changed = {}
    for symbol, d in bars.items():
        scale = np.where(np.arange(len(d)) > cut, 1.3, 1.0)
        changed[symbol] = BarData.from_arrays(symbol, d.time, d.open * scale, d.high * scale, d.low * scale,
                                              d.close * scale, d.volume)  # fmt: skip
    other = run_allocation_backtest(spec, changed, calendar=CAL)
    np.testing.assert_array_equal(other.equity[: cut + 1], run.equity[: cut + 1])
    assert [r.decision for r in other.rebalances[:6]] == [r.decision for r in run.rebalances[:6]]
    assert [f for f in other.fills if f.fill.bar <= cut] == [f for f in run.fills if f.fill.bar <= cut]
    assert other.equity[cut + 1] != run.equity[cut + 1]


def test_the_book_is_within_one_share_of_its_targets_once_a_rebalance_has_filled():
    days = sessions(date(2024, 5, 1), date(2024, 8, 30))
    n = len(days)
    # Prices move only on each week's first session, the decision day, and hold while the orders fill.
    sched = RebalanceSchedule("weekly", time(15, 55), CAL)
    weeks = np.cumsum([d in set(sched.first_sessions(days[0], days[-1])) for d in days])
    spy, tlt = 100 * 1.03 ** np.sin(weeks), 50 * 0.98**weeks
    bars = {"SPY": daily("SPY", days, spy), "TLT": daily("TLT", days, tlt)}
    run = run_allocation_backtest(AllocationSpec(SIXTY_FORTY, rebalance="weekly"), bars, calendar=CAL)
    ends = [r.bar - 1 for r in run.rebalances[1:]] + [n - 1]
    for r, k in zip(run.rebalances, ends, strict=True):
        assert k >= r.bar + 2  # the rebalance and a top-up have filled; prices have not moved since the decision
        for symbol, weight in SIXTY_FORTY.items():
            target = run.equity[k] * float(weight) / bars[symbol].close[k]
            assert abs(run.positions[symbol][k] - target) <= 1, (days[k], symbol)


def test_cash_never_goes_negative_when_fills_stay_within_the_collar():
    days = sessions(date(2024, 1, 2), date(2024, 6, 28))
    fees = FillModel(commission=PerShareCommission(D("0.005"), minimum=D("1")))
    _, run = book(AllocationSpec(SIXTY_FORTY, rebalance="daily"), days, seed=7, gap=0.012, fill_model=fees)
    assert len(run.rebalances) == len(days) and len(run.fills) > 100
    assert run.cash.min() >= 0
    assert all(f.fill.qty == f.fill.qty.to_integral_value() for f in run.fills)
    # The books balance: cash is the start plus the sells minus the buys, all fees included.
    flows = sum(((1 if f.fill.side is SELL else -1) * f.fill.qty * f.fill.price - f.fill.fee for f in run.fills), D(0))
    assert run.final_cash == run.starting_cash + flows
    pnl = sum((t.pnl for ts in run.trades.values() for t in ts), D(0))  # partial sells divide the cost basis
    assert abs(run.final_cash - run.starting_cash - pnl) < D("1e-9")


class BuyAndHold(Strategy):
    def next(self, data):
        if self.bar_index == 0:
            self.order_target(fraction=1.0)


def test_a_whole_allocation_to_one_symbol_rebalanced_monthly_is_buy_and_hold():
    days = sessions(date(2024, 1, 2), date(2024, 6, 28))
    n = len(days)
    close = 400 * (1 + 0.25 * np.sin(np.linspace(0, 3, n)))  # stays above 400 at every rebalance: no top-ups fit
    open_ = np.concatenate([[400.0], close[:-1]])
    spy = daily("SPY", days, close, open_)
    cfg = BacktestConfig(starting_cash=D(10000), fill_model=FillModel(commission=PerShareCommission(D("0.01"), D(1))))
    run = run_allocation_backtest(AllocationSpec({"SPY": D(1)}, rebalance="monthly"), {"SPY": spy}, cfg, calendar=CAL)
    held = run_backtest(BuyAndHold(), spy, cfg)
    assert len(run.rebalances) == 6 and [f.fill.qty for f in run.fills] == [D(24), D(24)]
    np.testing.assert_allclose(run.equity, held.equity, rtol=0, atol=1e-6)
    assert run.final_cash == held.final_cash
    buy, sell = (f.fill for f in run.fills)
    # 24 shares held from the first fill to the end: the symbol's move on the invested part, minus the two fees.
    expected = 24 * (close[-1] - float(buy.price)) - float(buy.fee + sell.fee)
    assert run.metrics().total_return * 10000 == pytest.approx(expected)
    assert run.metrics().total_return == held.metrics().total_return


def test_metrics_compare_with_the_benchmark():
    days = sessions(date(2024, 3, 1), date(2024, 5, 31))
    spec = AllocationSpec(SIXTY_FORTY, rebalance="weekly", benchmark="QQQ")
    bars, run = book(spec, days)
    qqq = daily("QQQ", days[2:], np.linspace(300, 330, len(days) - 2))  # starts two sessions late
    run = run_allocation_backtest(spec, bars, benchmark=qqq, calendar=CAL)
    m = run.metrics()
    assert m.buy_and_hold_return == pytest.approx(0.1)
    assert run.benchmark_equity is not None and run.benchmark_equity[0] == 100000
    assert run.benchmark_equity[-1] == pytest.approx(110000)
    bench = run.benchmark_metrics()
    assert bench is not None and bench.total_return == pytest.approx(0.1)
    assert m.to_dict()["buy_and_hold_return"] == pytest.approx(0.1) and m.trade_count == 2  # closed at the end
    # Without an explicit benchmark, the benchmark symbol's own bars are used when given.
    own = run_allocation_backtest(AllocationSpec(SIXTY_FORTY, benchmark="SPY"), bars, calendar=CAL)
    assert own.metrics().buy_and_hold_return == pytest.approx(bars["SPY"].close[-1] / bars["SPY"].close[0] - 1)


def test_weights_follow_the_book():
    closes = {"SPY": D(100), "TLT": D(50)}
    assert current_weights(closes, {"SPY": D(6), "TLT": D(8)}, D(0)) == {"SPY": D("0.6"), "TLT": D("0.4")}
    with pytest.raises(ValueError, match="no bars for TLT"):
        run_allocation_backtest(AllocationSpec(SIXTY_FORTY), {"SPY": daily("SPY", [date(2024, 7, 1)], [1.0])})
