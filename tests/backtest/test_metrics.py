"""Backtest metrics: hand-computed values on tiny curves, plain-loop references on random ones, edge cases."""

from __future__ import annotations

import json
import math
from dataclasses import fields
from decimal import Decimal
from types import SimpleNamespace

import numpy as np
import pytest

from core.backtest.metrics import (
    YEAR_SECONDS,
    Metrics,
    Trade,
    _sample_std,
    compute_metrics,
    drawdown,
    drawdown_durations,
    infer_periods_per_year,
)

DAY = 86_400.0
MINUTE = 60.0
T0 = 1_700_000_000.0  # a Tuesday, 22:13 UTC: only spacings matter here


def trade(pnl: float, pct: float = 0.0, *, entry_bar: int = 0, exit_bar: int = 1, held: float = 60.0) -> Trade:
    return Trade(
        entry_time=T0 + entry_bar * MINUTE,
        exit_time=T0 + entry_bar * MINUTE + held,
        entry_price=100.0,
        exit_price=100.0 + pnl,
        size=1.0,
        pnl=pnl,
        return_pct=pct,
        exit_reason="signal",
        entry_bar=entry_bar,
        exit_bar=exit_bar,
    )


def minutes(n: int) -> np.ndarray:
    return T0 + MINUTE * np.arange(n)


def days(n: int) -> np.ndarray:
    return T0 + DAY * np.arange(n)


def assert_json_clean(m: Metrics) -> dict:
    d = m.to_dict()
    assert set(d) == {f.name for f in fields(Metrics)}
    for key, value in d.items():
        assert value is None or type(value) in (int, float), (key, value)
        assert not (isinstance(value, float) and not math.isfinite(value)), (key, value)
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text) == d
    return d


# --- references written as plain loops, independent of the vectorised code ---------------------------------------


def loop_returns(equity, starting_cash):
    out, previous = [], starting_cash
    for value in equity:
        out.append(value / previous - 1.0)
        previous = value
    return out


def loop_stats(equity, starting_cash, ppy, rf_annual=0.0):
    r = loop_returns(equity, starting_cash)
    n = len(r)
    rf = (1.0 + rf_annual) ** (1.0 / ppy) - 1.0
    mean_r = sum(r) / n
    var = sum((x - mean_r) ** 2 for x in r) / (n - 1)
    std = math.sqrt(var)
    mean_excess = sum(x - rf for x in r) / n
    downside = math.sqrt(sum(min(0.0, x - rf) ** 2 for x in r) / n)
    return {
        "volatility": std * math.sqrt(ppy),
        "sharpe": mean_excess / std * math.sqrt(ppy),
        "sortino": mean_excess / downside * math.sqrt(ppy),
    }


def loop_episodes(equity, times):
    """(peak_bar, end_bar, recovered, depth) per drawdown, walking the curve bar by bar."""
    episodes, peak, peak_bar, start, depth = [], -math.inf, -1, None, 0.0
    for i, value in enumerate(equity):
        if value >= peak:
            if start is not None:
                episodes.append((peak_bar, i, True, depth))
                start = None
            peak, peak_bar = value, i
        else:
            if start is None:
                start, depth = i, 0.0
            depth = min(depth, value / peak - 1.0)
    if start is not None:
        episodes.append((peak_bar, len(equity) - 1, False, depth))
    return episodes


# --- hand-computed values ------------------------------------------------------------------------------------------


def test_tiny_curve_by_hand():
    equity = np.array([100.0, 110.0, 99.0, 120.0])
    times = minutes(4)

    assert drawdown(equity) == pytest.approx([0.0, 0.0, -0.1, 0.0])
    m = compute_metrics(equity, times, [], starting_cash=100.0)
    assert m.total_return == pytest.approx(0.2)
    assert m.max_drawdown == pytest.approx(-0.1)
    assert m.final_equity == 120.0
    assert m.peak_equity == 120.0
    assert m.bar_count == 4
    # Peak at bar 1 (110), recovered at bar 3 (120): two bars, two minutes.
    assert m.max_drawdown_duration_bars == 2
    assert m.max_drawdown_duration == 120.0

    periods = drawdown_durations(equity, times)
    assert len(periods) == 1
    assert periods.peak_bar.tolist() == [1]
    assert periods.end_bar.tolist() == [3]
    assert periods.bars.tolist() == [2]
    assert periods.seconds.tolist() == [120.0]
    assert periods.recovered.tolist() == [True]
    assert periods.depth == pytest.approx([-0.1])


def test_drawdown_is_never_positive_and_zero_at_new_highs():
    equity = np.array([100.0, 101.0, 101.0, 100.5, 102.0])
    dd = drawdown(equity)
    assert (dd <= 0.0).all()
    assert dd[[0, 1, 2, 4]].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert dd[3] == pytest.approx(100.5 / 101.0 - 1.0)


def test_longest_drawdown_in_bars_and_seconds_including_one_still_open():
    # Episode 1: peak bar 0 (100), under at 1-2, recovered at bar 3 -> 3 bars.
    # Episode 2: peak bar 4 (105), under at 5-8 and never recovered -> runs to the last bar, 4 bars.
    equity = np.array([100.0, 90.0, 95.0, 100.0, 105.0, 100.0, 99.0, 98.0, 97.0])
    periods = drawdown_durations(equity, days(9))
    assert periods.peak_bar.tolist() == [0, 4]
    assert periods.end_bar.tolist() == [3, 8]
    assert periods.bars.tolist() == [3, 4]
    assert periods.seconds.tolist() == [3 * DAY, 4 * DAY]
    assert periods.recovered.tolist() == [True, False]
    assert periods.depth == pytest.approx([-0.1, 97.0 / 105.0 - 1.0])

    m = compute_metrics(equity, days(9), [], starting_cash=100.0)
    assert m.max_drawdown_duration_bars == 4
    assert m.max_drawdown_duration == 4 * DAY
    assert m.max_drawdown == pytest.approx(-0.1)


def test_longest_drawdown_is_the_longest_in_time_with_its_own_bar_count():
    # Same curve, but a ten-day gap (a holiday stretch) falls inside the first, shorter-in-bars, episode.
    equity = np.array([100.0, 90.0, 95.0, 100.0, 105.0, 100.0, 99.0, 98.0, 97.0])
    times = days(9)
    times[2:] += 10 * DAY
    m = compute_metrics(equity, times, [], starting_cash=100.0)
    assert m.max_drawdown_duration == 13 * DAY
    assert m.max_drawdown_duration_bars == 3


def test_drawdown_from_the_starting_cash():
    # The first mark is already below the money put in: that is a drawdown from the start.
    equity = np.array([95.0, 100.0, 101.0])
    times = days(3)
    assert drawdown(equity) == pytest.approx([0.0, 0.0, 0.0])
    assert drawdown(equity, initial_peak=100.0) == pytest.approx([-0.05, 0.0, 0.0])
    periods = drawdown_durations(equity, times, initial_peak=100.0)
    assert periods.peak_bar.tolist() == [-1]  # before the first bar
    assert periods.end_bar.tolist() == [1]
    assert periods.bars.tolist() == [2]
    assert periods.seconds.tolist() == [2 * DAY]  # from one bar spacing before the first bar

    m = compute_metrics(equity, times, [], starting_cash=100.0)
    assert m.max_drawdown == pytest.approx(-0.05)
    assert m.max_drawdown_duration_bars == 2
    assert m.peak_equity == 101.0


def test_cagr_over_the_calendar_span_and_calmar():
    # Two bars a year apart: the span runs from the first open to the last close, two years.
    times = np.array([0.0, YEAR_SECONDS])
    m = compute_metrics(np.array([110.0, 121.0]), times, [], starting_cash=100.0)
    assert m.total_return == pytest.approx(0.21)
    assert m.annualized_return == pytest.approx(0.1)
    assert m.calmar is None  # no drawdown
    assert m.periods_per_year == pytest.approx(1.0)

    m = compute_metrics(np.array([90.0, 121.0]), times, [], starting_cash=100.0)
    assert m.max_drawdown == pytest.approx(-0.1)
    assert m.annualized_return == pytest.approx(0.1)
    assert m.calmar == pytest.approx(1.0)


def test_cagr_of_a_year_of_daily_bars():
    n = 365
    equity = np.linspace(100.0, 150.0, n)
    m = compute_metrics(equity, days(n), [], starting_cash=100.0)
    span_years = n * DAY / YEAR_SECONDS
    assert m.annualized_return == pytest.approx(1.5 ** (1.0 / span_years) - 1.0)


def test_trade_statistics_by_hand():
    trades = [
        trade(10.0, 0.10, held=60.0),
        trade(-5.0, -0.05, held=120.0),
        trade(20.0, 0.20, held=180.0),
        trade(-5.0, -0.05, held=240.0),
        trade(0.0, 0.0, held=300.0),  # break-even: neither a win nor a loss
    ]
    m = compute_metrics(np.full(10, 100.0), minutes(10), trades, starting_cash=100.0)
    assert m.trade_count == 5
    assert m.win_rate == pytest.approx(0.4)
    assert m.profit_factor == pytest.approx(3.0)
    assert m.expectancy == pytest.approx(4.0)
    assert m.avg_trade_pct == pytest.approx(0.04)
    assert m.best_trade_pct == pytest.approx(0.20)
    assert m.worst_trade_pct == pytest.approx(-0.05)
    assert m.avg_trade_duration == pytest.approx(180.0)
    assert trades[3].duration == 240.0


def test_all_winning_trades_have_no_profit_factor_and_all_losing_ones_zero():
    equity, times = np.full(5, 100.0), minutes(5)
    wins = compute_metrics(equity, times, [trade(1.0), trade(2.0)], starting_cash=100.0)
    assert wins.win_rate == 1.0
    assert wins.profit_factor is None
    assert assert_json_clean(wins)["profit_factor"] is None

    losses = compute_metrics(equity, times, [trade(-1.0), trade(-2.0)], starting_cash=100.0)
    assert losses.win_rate == 0.0
    assert losses.profit_factor == 0.0
    assert losses.expectancy == pytest.approx(-1.5)


def test_no_trades():
    rng = np.random.default_rng(3)
    equity = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 50)))
    m = compute_metrics(equity, days(50), [], starting_cash=100.0)
    assert m.trade_count == 0
    assert m.exposure == 0.0
    for name in (
        "win_rate",
        "profit_factor",
        "expectancy",
        "avg_trade_pct",
        "best_trade_pct",
        "worst_trade_pct",
        "avg_trade_duration",
    ):
        assert getattr(m, name) is None, name
    assert m.sharpe is not None  # the curve itself is still measured
    assert_json_clean(m)


def test_trades_with_decimal_amounts_are_read_like_trades():
    # The engine's RoundTrip keeps Decimals and has the same attribute names.
    round_trip = SimpleNamespace(
        entry_time=T0,
        exit_time=T0 + 300.0,
        pnl=Decimal("12.50"),
        return_pct=0.0125,
        entry_bar=1,
        exit_bar=3,
    )
    m = compute_metrics(np.full(6, 100.0), minutes(6), [round_trip], starting_cash=100.0)
    assert m.expectancy == 12.5
    assert m.avg_trade_duration == 300.0
    assert m.exposure == pytest.approx(0.5)


def test_flat_equity():
    m = compute_metrics(np.full(20, 1000.0), days(20), [], starting_cash=1000.0)
    assert m.total_return == 0.0
    assert m.annualized_return == 0.0
    assert m.volatility == 0.0
    assert m.sharpe is None
    assert m.sortino is None
    assert m.calmar is None
    assert m.max_drawdown == 0.0
    assert m.max_drawdown_duration == 0.0
    assert m.max_drawdown_duration_bars == 0
    d = assert_json_clean(m)
    assert d["sharpe"] is None and d["volatility"] == 0.0


def test_rising_without_a_losing_bar_has_no_sortino():
    m = compute_metrics(np.array([101.0, 103.0, 104.0, 107.0]), days(4), [], starting_cash=100.0)
    assert m.sharpe is not None and m.sharpe > 0
    assert m.sortino is None


def test_single_bar():
    m = compute_metrics(np.array([105.0]), np.array([T0]), [], starting_cash=100.0)
    assert m.bar_count == 1
    assert m.total_return == pytest.approx(0.05)
    assert m.periods_per_year is None
    assert m.annualized_return is None
    assert m.volatility is None and m.sharpe is None and m.sortino is None and m.calmar is None
    assert m.max_drawdown == 0.0
    assert_json_clean(m)

    # Even with a given year length one return has no dispersion.
    m = compute_metrics(np.array([95.0]), np.array([T0]), [], starting_cash=100.0, periods_per_year=252)
    assert m.periods_per_year == 252.0
    assert m.sharpe is None and m.sortino is None and m.volatility is None
    assert m.max_drawdown == pytest.approx(-0.05)
    assert m.max_drawdown_duration_bars == 1
    assert_json_clean(m)


def test_curve_ending_at_or_below_zero():
    m = compute_metrics(np.array([100.0, 50.0, -10.0]), days(3), [], starting_cash=100.0)
    assert m.total_return == pytest.approx(-1.1)
    assert m.annualized_return == -1.0
    assert m.max_drawdown == pytest.approx(-1.1)
    assert_json_clean(m)

    # Past a mark at zero, per-bar returns mean nothing.
    m = compute_metrics(np.array([100.0, 0.0, 5.0]), days(3), [], starting_cash=100.0)
    assert m.sharpe is None and m.volatility is None and m.sortino is None
    assert_json_clean(m)


def test_cagr_too_large_for_a_float_is_none():
    # Doubling every minute for ten minutes, annualised over a calendar year.
    equity = 100.0 * 2.0 ** np.arange(1, 11)
    m = compute_metrics(equity, minutes(10), [], starting_cash=100.0)
    assert m.annualized_return is None
    assert m.calmar is None
    assert_json_clean(m)


# --- references on random curves -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("times", "ppy", "rf"),
    [
        (days(500), None, 0.0),
        (days(500), None, 0.04),
        (minutes(500), 12_345.0, 0.02),
    ],
)
def test_risk_ratios_match_a_plain_loop(times, ppy, rf):
    rng = np.random.default_rng(42)
    equity = 10_000.0 * np.exp(np.cumsum(rng.normal(0.0002, 0.01, 500)))
    m = compute_metrics(equity, times, [], starting_cash=10_000.0, risk_free_rate=rf, periods_per_year=ppy)
    expected_ppy = ppy if ppy is not None else 252.0
    assert m.periods_per_year == expected_ppy
    ref = loop_stats(equity.tolist(), 10_000.0, expected_ppy, rf)
    assert m.volatility == pytest.approx(ref["volatility"], rel=1e-10)
    assert m.sharpe == pytest.approx(ref["sharpe"], rel=1e-10)
    assert m.sortino == pytest.approx(ref["sortino"], rel=1e-10)


def test_drawdown_episodes_match_a_plain_loop():
    rng = np.random.default_rng(7)
    equity = 100.0 * np.exp(np.cumsum(rng.normal(0.001, 0.01, 2_000)))  # drifting up: many recoveries
    times = T0 + np.cumsum(rng.integers(1, 5, 2_000)) * MINUTE  # uneven spacing
    periods = drawdown_durations(equity, times)
    ref = loop_episodes(equity.tolist(), times.tolist())
    assert len(ref) > 10
    assert periods.peak_bar.tolist() == [e[0] for e in ref]
    assert periods.end_bar.tolist() == [e[1] for e in ref]
    assert periods.recovered.tolist() == [e[2] for e in ref]
    assert periods.depth == pytest.approx([e[3] for e in ref], rel=1e-12)
    assert periods.seconds.tolist() == [times[e[1]] - times[e[0]] for e in ref]
    assert drawdown(equity).min() == pytest.approx(min(e[3] for e in ref), rel=1e-12)


# --- benchmark, exposure, annualisation ----------------------------------------------------------------------------


def test_buy_and_hold():
    equity, times = np.array([100.0, 101.0, 102.0]), days(3)
    m = compute_metrics(equity, times, [], starting_cash=100.0, benchmark_close=np.array([50.0, 40.0, 60.0]))
    assert m.buy_and_hold_return == pytest.approx(0.2)
    assert compute_metrics(equity, times, [], starting_cash=100.0).buy_and_hold_return is None


def test_exposure_from_a_mask_or_from_trades():
    equity, times = np.full(6, 100.0), minutes(6)
    position = np.array([0.0, 5.0, 5.0, 0.0, -2.0, 0.0])
    assert compute_metrics(equity, times, [], starting_cash=100.0, exposure=position).exposure == pytest.approx(0.5)
    mask = np.array([True, False, False, False, False, False])
    assert compute_metrics(equity, times, [], starting_cash=100.0, exposure=mask).exposure == pytest.approx(1 / 6)

    # Without a mask: entry to exit bar inclusive, overlaps counted once -> bars 1, 2, 3.
    trades = [trade(1.0, entry_bar=1, exit_bar=2), trade(1.0, entry_bar=2, exit_bar=3)]
    assert compute_metrics(equity, times, trades, starting_cash=100.0).exposure == pytest.approx(0.5)
    # The mask wins over the trades.
    assert compute_metrics(equity, times, trades, starting_cash=100.0, exposure=mask).exposure == pytest.approx(1 / 6)

    with pytest.raises(ValueError, match="exposure"):
        compute_metrics(equity, times, [], starting_cash=100.0, exposure=np.ones(5))


def test_periods_per_year_inferred_from_bar_spacing():
    # One-minute bars over two regular sessions, with the night between them.
    session = np.arange(390) * MINUTE
    one_minute = np.concatenate([T0 + session, T0 + DAY + session])
    assert infer_periods_per_year(one_minute) == 252 * 390

    # Daily bars on weekdays only: weekends do not move the median.
    weekdays = np.arange(np.datetime64("2024-01-02"), np.datetime64("2024-12-31"))
    weekdays = weekdays[np.is_busday(weekdays)]
    daily = weekdays.astype("datetime64[s]").astype(np.int64).astype(np.float64)
    assert infer_periods_per_year(daily) == 252

    assert infer_periods_per_year(T0 + 300.0 * np.arange(100)) == 252 * 78  # 5Min
    assert infer_periods_per_year(T0 + 900.0 * np.arange(100)) == 252 * 26  # 15Min
    assert infer_periods_per_year(T0 + 1800.0 * np.arange(100)) == 252 * 13  # 30Min
    assert infer_periods_per_year(T0 + 3600.0 * np.arange(100)) == 252 * 7  # 1Hour: 7 buckets a session
    assert infer_periods_per_year(T0 + 7 * DAY * np.arange(100)) == pytest.approx(365.25 / 7)  # weekly
    assert infer_periods_per_year(np.array([T0])) is None

    m = compute_metrics(np.linspace(100.0, 110.0, len(daily)), daily, [], starting_cash=100.0)
    assert m.periods_per_year == 252
    m = compute_metrics(np.linspace(100.0, 110.0, 50), minutes(50), [], starting_cash=100.0, periods_per_year=1000)
    assert m.periods_per_year == 1000.0


# --- output and input ----------------------------------------------------------------------------------------------


def test_to_dict_round_trips_through_json():
    rng = np.random.default_rng(11)
    equity = 50_000.0 * np.exp(np.cumsum(rng.normal(0.0001, 0.005, 300)))
    trades = [trade(float(p), float(p) / 100, entry_bar=i, exit_bar=i + 3) for i, p in enumerate(rng.normal(0, 50, 20))]
    m = compute_metrics(
        equity,
        days(300),
        trades,
        starting_cash=50_000.0,
        benchmark_close=equity * 0.9,
        risk_free_rate=0.03,
    )
    d = assert_json_clean(m)
    assert all(d[f] is not None for f in ("sharpe", "sortino", "calmar", "profit_factor", "buy_and_hold_return"))
    assert isinstance(d["trade_count"], int) and isinstance(d["max_drawdown_duration_bars"], int)


@pytest.mark.parametrize(
    ("equity", "times", "cash", "match"),
    [
        (np.array([]), np.array([]), 100.0, "non-empty"),
        (np.array([100.0, np.nan]), minutes(2), 100.0, "NaN"),
        (np.array([100.0, 101.0]), minutes(3), 100.0, "times"),
        (np.array([100.0, 101.0]), minutes(2), 0.0, "starting_cash"),
    ],
)
def test_bad_input_is_refused(equity, times, cash, match):
    with pytest.raises(ValueError, match=match):
        compute_metrics(equity, times, [], starting_cash=cash)


@pytest.mark.parametrize("n", [2, 3, 9, 128, 1000, 100_003])
def test_the_in_place_sample_std_is_numpys_to_the_bit(n):
    rng = np.random.default_rng(n)
    values = rng.normal(0, 1e-3, n) * rng.choice([1.0, 1e6], n)
    assert _sample_std(values, np.empty(n)) == float(values.std(ddof=1))
