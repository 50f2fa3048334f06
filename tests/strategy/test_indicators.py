"""The built-in indicators: textbook values (checked against plain loops), warm-ups, sessions, gaps, bad input."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from core.strategy.indicators import (
    MAX_PERIOD,
    atr,
    bollinger,
    ema,
    highest,
    lowest,
    macd,
    rsi,
    sma,
    vwap,
)

NAN = math.nan
NY = ZoneInfo("America/New_York")
RTOL = 1e-9


# ---- loop references: the textbook definitions, one bar at a time -------------------------------------------


def ref_sma(x: list[float], n: int) -> list[float]:
    return [NAN if i < n - 1 else sum(x[i - n + 1 : i + 1]) / n for i in range(len(x))]


def ref_ema(x: list[float], n: int) -> list[float]:
    out = [NAN] * len(x)
    if len(x) >= n:
        alpha = 2.0 / (n + 1)
        value = sum(x[:n]) / n
        out[n - 1] = value
        for i in range(n, len(x)):
            value = value + alpha * (x[i] - value)
            out[i] = value
    return out


def ref_wilder(x: list[float], n: int) -> list[float]:
    """Wilder's average of x[1:], seeded with the mean of x[1..n]."""
    out = [NAN] * len(x)
    if len(x) > n:
        value = sum(x[1 : n + 1]) / n
        out[n] = value
        for i in range(n + 1, len(x)):
            value = (value * (n - 1) + x[i]) / n
            out[i] = value
    return out


def ref_rsi(c: list[float], n: int) -> list[float]:
    gains = [0.0] + [max(c[i] - c[i - 1], 0.0) for i in range(1, len(c))]
    losses = [0.0] + [max(c[i - 1] - c[i], 0.0) for i in range(1, len(c))]
    out = []
    for g, lo in zip(ref_wilder(gains, n), ref_wilder(losses, n), strict=True):
        out.append(NAN if math.isnan(g) else 50.0 if g + lo == 0 else 100.0 * g / (g + lo))
    return out


def ref_macd(c: list[float], fast: int, slow: int, signal: int) -> tuple[list[float], list[float], list[float]]:
    line = [f - s for f, s in zip(ref_ema(c, fast), ref_ema(c, slow), strict=True)]
    sig = [NAN] * (slow - 1) + ref_ema(line[slow - 1 :], signal)
    return line, sig, [a - b for a, b in zip(line, sig, strict=True)]


def ref_bollinger(c: list[float], n: int, k: float) -> tuple[list[float], list[float], list[float]]:
    mid, upper, lower = [NAN] * len(c), [NAN] * len(c), [NAN] * len(c)
    for i in range(n - 1, len(c)):
        window = c[i - n + 1 : i + 1]
        m = sum(window) / n
        sd = math.sqrt(sum((x - m) ** 2 for x in window) / n)
        mid[i], upper[i], lower[i] = m, m + k * sd, m - k * sd
    return mid, upper, lower


def ref_atr(h: list[float], lo: list[float], c: list[float], n: int) -> list[float]:
    tr = [0.0] + [max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])) for i in range(1, len(c))]
    return ref_wilder(tr, n)


def ref_highest(x: list[float], n: int) -> list[float]:
    return [NAN if i < n - 1 else max(x[i - n + 1 : i + 1]) for i in range(len(x))]


def ref_lowest(x: list[float], n: int) -> list[float]:
    return [NAN if i < n - 1 else min(x[i - n + 1 : i + 1]) for i in range(len(x))]


def ref_vwap_session(h, lo, c, v, t) -> list[float]:
    out, day, pv, vol = [], None, 0.0, 0.0
    for i in range(len(c)):
        date = datetime.fromtimestamp(t[i], UTC).astimezone(NY).date()
        if date != day:
            day, pv, vol = date, 0.0, 0.0
        pv += (h[i] + lo[i] + c[i]) / 3 * v[i]
        vol += v[i]
        out.append(pv / vol if vol > 0 else NAN)
    return out


def ref_vwap_rolling(h, lo, c, v, n: int) -> list[float]:
    out = [NAN] * len(c)
    for i in range(n - 1, len(c)):
        span = range(i - n + 1, i + 1)
        vol = sum(v[j] for j in span)
        out[i] = sum((h[j] + lo[j] + c[j]) / 3 * v[j] for j in span) / vol if vol > 0 else NAN
    return out


# ---- data -----------------------------------------------------------------------------------------------------


def ny(*args: int) -> float:
    """Epoch seconds of a New York wall-clock time."""
    return datetime(*args, tzinfo=NY).timestamp()


def random_walk(n: int = 3000, seed: int = 11) -> dict[str, np.ndarray]:
    """Minute bars from Saturday 2024-03-09 22:00 New York on, through the spring-forward night and
    three New York midnights (DST starts 2024-03-10 02:00)."""
    rng = np.random.default_rng(seed)
    close = 100 + np.cumsum(rng.normal(0, 0.2, n))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) + np.abs(rng.normal(0, 0.1, n))
    low = np.minimum(open_, close) - np.abs(rng.normal(0, 0.1, n))
    volume = rng.integers(0, 5000, n).astype(np.float64)
    volume[rng.random(n) < 0.05] = 0.0  # some bars trade nothing
    times = ny(2024, 3, 9, 22, 0) + 60.0 * np.arange(n)
    return {"t": times, "o": open_, "h": high, "l": low, "c": close, "v": volume}


@pytest.fixture(scope="module")
def bars() -> dict[str, np.ndarray]:
    return random_walk()


def close_to(got: np.ndarray, want: list[float] | np.ndarray, atol: float = 0.0) -> None:
    want = np.asarray(want, dtype=np.float64)
    assert got.dtype == np.float64 and got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=atol, equal_nan=True)


def leading_nans(a: np.ndarray) -> int:
    finite = np.flatnonzero(~np.isnan(a))
    return int(finite[0]) if finite.size else len(a)


# ---- every indicator against its loop ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 14, 50])
def test_moving_averages_and_extremes_match_loops(bars, n):
    c, h, lo = bars["c"], bars["h"], bars["l"]
    close_to(sma(c, n), ref_sma(list(c), n))
    close_to(ema(c, n), ref_ema(list(c), n))
    close_to(highest(h, n), ref_highest(list(h), n))
    close_to(lowest(lo, n), ref_lowest(list(lo), n))
    close_to(rsi(c, n), ref_rsi(list(c), n))
    close_to(atr(h, lo, c, n), ref_atr(list(h), list(lo), list(c), n))
    for got, want in zip(bollinger(c, n, 2.5), ref_bollinger(list(c), n, 2.5), strict=True):
        close_to(got, want)


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (2, 3, 2), (5, 35, 1)])
def test_macd_matches_loop(bars, fast, slow, signal):
    got = macd(bars["c"], fast, slow, signal)
    # MACD crosses zero, where a relative tolerance means nothing: allow 1e-9 of the price level there.
    for g, w in zip(got, ref_macd(list(bars["c"]), fast, slow, signal), strict=True):
        close_to(g, w, atol=1e-7)


def test_vwap_matches_loops(bars):
    h, lo, c, v, t = bars["h"], bars["l"], bars["c"], bars["v"], bars["t"]
    close_to(vwap(h, lo, c, v, t), ref_vwap_session(*(list(a) for a in (h, lo, c, v, t))))
    for window in (1, 2, 30, 390):
        close_to(vwap(h, lo, c, v, window=window), ref_vwap_rolling(list(h), list(lo), list(c), list(v), window))


def test_warm_up_lengths(bars):
    c, h, lo, v, t = bars["c"], bars["h"], bars["l"], bars["v"], bars["t"]
    assert leading_nans(sma(c, 20)) == 19
    assert leading_nans(ema(c, 20)) == 19
    assert leading_nans(rsi(c, 14)) == 14
    line, signal, hist = macd(c, 12, 26, 9)
    assert (leading_nans(line), leading_nans(signal), leading_nans(hist)) == (25, 33, 33)
    assert [leading_nans(band) for band in bollinger(c, 20)] == [19, 19, 19]
    assert leading_nans(atr(h, lo, c, 14)) == 14
    assert leading_nans(highest(h, 20)) == leading_nans(lowest(lo, 20)) == 19
    assert leading_nans(vwap(h, lo, c, np.ones_like(v), window=30)) == 29
    assert leading_nans(vwap(h, lo, c, np.ones_like(v), t)) == 0
    # after the warm-up every value is there
    for out in (sma(c, 20), rsi(c, 14), signal, atr(h, lo, c, 14), highest(h, 20)):
        assert not np.isnan(out[leading_nans(out) :]).any()
    # a series shorter than the period is all warm-up
    assert np.isnan(sma(c[:5], 6)).all() and np.isnan(rsi(c[:14], 14)).all()
    assert np.isnan(atr(h[:3], lo[:3], c[:3], 3)).all()


# ---- known values on tiny inputs ----------------------------------------------------------------------------------


def test_tiny_hand_made_values():
    close_to(sma([1, 2, 3, 4], 2), [NAN, 1.5, 2.5, 3.5])
    close_to(ema([1, 2, 3, 4, 5], 3), [NAN, NAN, 2.0, 3.0, 4.0])  # seed mean(1,2,3)=2, alpha 0.5
    close_to(highest([1, 3, 2, 5, 4], 2), [NAN, 3, 3, 5, 5])
    close_to(lowest([1, 3, 2, 5, 4], 2), [NAN, 1, 2, 2, 4])
    # changes +1, +1, -1: gain avg 1, loss avg 0 -> 100; then gain (1*1+0)/2, loss (0*1+1)/2 -> 50
    close_to(rsi([1, 2, 3, 2], 2), [NAN, NAN, 100.0, 50.0])
    mid, upper, lower = bollinger([1, 2, 3], 3, 2.0)
    sd = math.sqrt(2 / 3)  # population deviation of 1, 2, 3
    close_to(mid, [NAN, NAN, 2.0])
    close_to(upper, [NAN, NAN, 2 + 2 * sd])
    close_to(lower, [NAN, NAN, 2 - 2 * sd])
    # true ranges: bar1 max(3-1, |3-1.5|, |1-1.5|) = 2, bar2 max(4-2, |4-2|, |2-2|) = 2, bar3 max(1, 3, 2) = 3
    close_to(atr([2, 3, 4, 6], [1, 1, 2, 5], [1.5, 2, 3, 5.5], 2), [NAN, NAN, 2.0, 2.5])
    # typical prices 10 and 20 with volumes 1 and 3
    close_to(vwap([11, 22], [9, 18], [10, 20], [1, 3], window=2), [NAN, (10 + 60) / 4])


def test_rsi_of_a_flat_price_is_neutral():
    assert rsi([5.0] * 20, 14)[-1] == 50.0
    assert rsi(np.arange(20.0), 14)[-1] == 100.0
    assert rsi(np.arange(20.0)[::-1], 14)[-1] == 0.0
    # flat after moving: Wilder's averages decay but never vanish, so RSI stays put rather than jumping to 50
    assert rsi([1, 2, 3, 2, 2, 2, 2, 2], 2)[-1] == pytest.approx(50.0)
    assert rsi([1, 2, 3, 4, 4, 4, 4, 4], 2)[-1] == 100.0


def test_period_one_and_empty_input():
    x = np.array([3.0, 1.0, 2.0])
    close_to(sma(x, 1), x)
    close_to(highest(x, 1), x)
    close_to(lowest(x, 1), x)
    close_to(rsi(x, 1), [NAN, 0.0, 100.0])
    assert [list(b) for b in bollinger(x, 1)] == [list(x)] * 3
    assert not np.shares_memory(highest(x, 1), x)  # outputs are always new arrays
    for out in (sma([], 3), ema([], 3), rsi([], 3), highest([], 2), atr([], [], [], 3), *macd([]), *bollinger([])):
        assert out.shape == (0,) and out.dtype == np.float64
    assert vwap([], [], [], [], []).shape == (0,) and vwap([], [], [], [], window=3).shape == (0,)


# ---- VWAP sessions -------------------------------------------------------------------------------------------------


def test_vwap_resets_at_each_new_york_date_across_dst():
    times = [
        ny(2024, 3, 8, 15, 59),  # Friday, EST (UTC-5)
        ny(2024, 3, 10, 23, 30),  # Sunday after spring-forward, EDT: 03:30 UTC on Monday
        ny(2024, 3, 11, 0, 30),  # Monday 00:30 EDT: a new NY date (a fixed UTC-5 clock would still say Sunday)
        ny(2024, 3, 11, 9, 30),
        ny(2024, 3, 11, 19, 30),  # 23:30 UTC
        ny(2024, 3, 11, 20, 30),  # 00:30 UTC Tuesday, still Monday in New York: same session
        ny(2024, 11, 3, 1, 30, 0),  # fall-back night: 01:30 EDT ...
        ny(2024, 11, 3, 23, 59),  # ... and 23:59 EST are the same date
        ny(2024, 11, 4, 0, 0),  # midnight EST: new session
    ]
    price = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0]
    volume = [1.0, 1.0, 1.0, 3.0, 1.0, 1.0, 1.0, 3.0, 2.0]
    got = vwap(price, price, price, volume, times)
    want = [10, 20, 30, (30 + 120) / 4, (30 + 120 + 50) / 5, (30 + 120 + 50 + 60) / 6, 70, (70 + 240) / 4, 90]
    close_to(got, want)
    close_to(got, ref_vwap_session(price, price, price, volume, times))


def test_vwap_without_volume_is_nan_until_something_trades():
    t0 = ny(2024, 6, 3, 9, 30)
    times = [t0, t0 + 60, t0 + 120, t0 + 86_400, t0 + 86_460]
    price = [10.0, 11.0, 12.0, 13.0, 14.0]
    close_to(vwap(price, price, price, [0, 0, 2, 0, 1], times), [NAN, NAN, 12.0, NAN, 14.0])
    close_to(vwap(price, price, price, [1, 0, 0, 0, 5], window=2), [NAN, 10.0, NAN, NAN, 14.0])


def test_fractional_volume_empty_windows_are_nan_not_rounding_noise():
    price = [1.1, 1.2, 1.3, 1.4, 1.5, 1.6]
    got = vwap(price, price, price, [0.1, 0.7, 0.3, 0.0, 0.0, 0.2], window=2)
    close_to(got, [NAN, (0.11 + 0.84) / 0.8, (0.84 + 0.39) / 1.0, 1.3, NAN, 1.6])


# ---- gaps and composition ------------------------------------------------------------------------------------------


def test_leading_nans_are_skipped_so_indicators_compose(bars):
    c = bars["c"]
    r = rsi(c, 14)
    smoothed = sma(r, 5)
    assert leading_nans(smoothed) == 14 + 4
    close_to(smoothed[14:], sma(r[14:], 5))
    padded = np.concatenate([[NAN] * 7, c[:200]])
    close_to(ema(padded, 10)[7:], ema(c[:200], 10))


def test_a_gap_restarts_the_series(bars):
    c, h, lo = bars["c"][:300].copy(), bars["h"][:300].copy(), bars["l"][:300].copy()
    c[100] = NAN
    for f, n in ((sma, 10), (ema, 10), (rsi, 14), (highest, 10)):
        got = f(c, n)
        close_to(got[:100], f(c[:100], n))
        assert np.isnan(got[100])
        close_to(got[101:], f(c[101:], n))  # a fresh warm-up after the gap, not a bridge and not all-NaN
    h[50] = np.inf  # non-finite counts as missing too, in any input
    got = atr(h, lo, bars["c"][:300], 14)
    close_to(got[51:], atr(h[51:], lo[51:], bars["c"][51:300], 14))
    line, signal, _ = macd(c, 3, 6, 4)
    close_to(line[101:], macd(c[101:], 3, 6, 4).line)
    close_to(signal[101:], macd(c[101:], 3, 6, 4).signal)
    assert np.isnan(sma([NAN, NAN, NAN], 2)).all() and np.isnan(bollinger([NAN] * 4, 2).upper).all()


def everything(h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray, t: np.ndarray) -> list[np.ndarray]:
    return [
        *(sma(c, 20), ema(c, 20), rsi(c), *macd(c), *bollinger(c), atr(h, lo, c)),
        *(highest(h, 20), lowest(lo, 20), vwap(h, lo, c, v, t), vwap(h, lo, c, v, window=60)),
    ]


def test_values_do_not_depend_on_later_bars(bars):
    """What check_causal demands of every indicator a strategy registers."""
    columns = [bars[k] for k in ("h", "l", "c", "v", "t")]
    cut = 1234
    whole, part = everything(*columns), everything(*(a[:cut] for a in columns))
    for a, b in zip(whole, part, strict=True):
        np.testing.assert_array_equal(a[:cut], b)


def test_inputs_are_not_modified_and_lists_work(bars):
    c = bars["c"][:100]
    before = c.copy()
    for f in (sma, ema, rsi, highest):
        f(c, 5)
    bollinger(c)
    macd(c)
    np.testing.assert_array_equal(c, before)
    close_to(sma(c.tolist(), 5), sma(c, 5))
    close_to(sma([1, 2, 3], 2), [NAN, 1.5, 2.5])  # ints are converted


# ---- bad input -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, -3, 2.5, True, None, "5", MAX_PERIOD + 1])
def test_bad_periods_are_refused(n):
    for f in (sma, ema, highest, lowest, rsi):
        with pytest.raises(ValueError, match=r"\bn must be"):
            f([1.0, 2.0, 3.0], n)
    with pytest.raises(ValueError, match="n must be"):
        atr([2.0], [1.0], [1.5], n)
    with pytest.raises(ValueError, match="n must be"):
        bollinger([1.0], n)
    if n is not None:  # window=None means "no window"
        with pytest.raises(ValueError, match="window must be"):
            vwap([1.0], [1.0], [1.0], [1.0], window=n)


def test_whole_number_floats_are_accepted_as_periods():
    close_to(sma([1, 2, 3, 4], 2.0), [NAN, 1.5, 2.5, 3.5])
    close_to(sma([1, 2, 3, 4], np.int64(2)), [NAN, 1.5, 2.5, 3.5])


def test_bad_series_are_refused():
    with pytest.raises(ValueError, match="1-D"):
        sma(np.ones((3, 2)), 2)
    with pytest.raises(ValueError, match="1-D"):
        ema(5.0, 2)
    with pytest.raises(ValueError, match="array of numbers"):
        sma(["a", "b"], 1)
    with pytest.raises(ValueError, match="same length"):
        atr([1.0, 2.0], [1.0], [1.0, 2.0], 1)
    with pytest.raises(ValueError, match="same length"):
        vwap([1.0], [1.0], [1.0], [1.0, 2.0], window=1)
    with pytest.raises(ValueError, match="same length"):
        vwap([1.0], [1.0], [1.0], [1.0], [0.0, 60.0])


def test_bad_options_are_refused():
    one = [1.0]
    with pytest.raises(ValueError, match="not both or neither"):
        vwap(one, one, one, one)
    with pytest.raises(ValueError, match="not both or neither"):
        vwap(one, one, one, one, [0.0], window=1)
    with pytest.raises(ValueError, match="negative"):
        vwap([1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, -1.0], window=1)
    with pytest.raises(ValueError, match="finite"):
        vwap(one, one, one, one, [NAN])
    with pytest.raises(ValueError, match="shorter than slow"):
        macd([1.0] * 50, 26, 12)
    with pytest.raises(ValueError, match="shorter than slow"):
        macd([1.0] * 50, 12, 12)
    with pytest.raises(ValueError, match="signal must be"):
        macd([1.0] * 50, signal=0)
    for k in (-1.0, NAN, math.inf, "2", True):
        with pytest.raises(ValueError, match="k must be"):
            bollinger([1.0, 2.0], 2, k)
