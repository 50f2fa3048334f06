"""Minutes aggregate into the bars Alpaca would send: New York clock buckets, XNYS sessions, honest NA/vwap.

The reference is pandas' own ``resample`` on New York local time, over minutes filtered by session
hours written out by hand below (not taken from the calendar the code uses), so the two sides
share neither the bucketing nor the session logic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.market.aggregate import AGGREGATE_TIMEFRAMES, aggregate
from core.market.frames import BAR_COLUMNS, empty_frame

NY = "America/New_York"

# Dates with minutes supplied from 04:00 to 20:00 ET, and their regular session in ET (None: market closed).
SESSIONS: dict[str, tuple[str, str] | None] = {
    "2025-03-07": ("09:30", "16:00"),  # Friday, still EST (UTC-5)
    "2025-03-10": ("09:30", "16:00"),  # Monday after the switch to EDT (UTC-4)
    "2025-07-03": ("09:30", "13:00"),  # early close before Independence Day
    "2025-07-04": None,  # holiday
    "2025-07-05": None,  # Saturday
    "2025-11-26": ("09:30", "16:00"),  # normal day
    "2025-11-27": None,  # Thanksgiving
    "2025-11-28": ("09:30", "13:00"),  # day after Thanksgiving: early close
}


def _random_minutes(days: list[str], seed: int = 20251128, hours: tuple[str, str] = ("04:00", "19:59")) -> pd.DataFrame:
    """A seeded random walk: one bar per minute over ``hours`` (ET, inclusive) each day, some counts/vwaps unknown."""
    first, last = hours
    per_day = [pd.date_range(f"{d} {first}", f"{d} {last}", freq="1min", tz=NY).tz_convert("UTC") for d in days]
    stamps = per_day[0].append(per_day[1:])
    n = len(stamps)
    rng = np.random.default_rng(seed)
    close = 100.0 + np.cumsum(rng.normal(0.0, 0.05, n))
    open_ = np.concatenate(([100.0], close[:-1])) + rng.normal(0.0, 0.01, n)
    high = np.maximum(open_, close) + rng.uniform(0.0, 0.05, n)
    low = np.minimum(open_, close) - rng.uniform(0.0, 0.05, n)
    volume = rng.integers(0, 2_000, n).astype("float64")
    volume[rng.random(n) < 0.05] = 0.0
    count = pd.array(rng.integers(1, 60, n), dtype="Int64")
    count[rng.random(n) < 0.1] = pd.NA
    vwap = rng.uniform(low, high)
    vwap[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "timestamp": stamps.as_unit("ns"),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "trade_count": count,
            "vwap": vwap,
        }
    )


def _regular_only(minutes: pd.DataFrame) -> pd.DataFrame:
    """The minutes inside the hand-written sessions above."""
    local = minutes["timestamp"].dt.tz_convert(NY)
    day = local.dt.strftime("%Y-%m-%d")
    clock = local.dt.strftime("%H:%M")
    keep = np.zeros(len(minutes), dtype=bool)
    for date, hours in SESSIONS.items():
        if hours is not None:
            keep |= ((day == date) & (clock >= hours[0]) & (clock < hours[1])).to_numpy()
    return minutes.loc[keep]


def _reference(minutes: pd.DataFrame, rule: str) -> pd.DataFrame:
    """Independent answer: pandas resample on New York local time (left label, left-closed), back to UTC."""
    known = minutes["vwap"].notna()
    helper = pd.DataFrame(
        {
            "open": minutes["open"].to_numpy(),
            "high": minutes["high"].to_numpy(),
            "low": minutes["low"].to_numpy(),
            "close": minutes["close"].to_numpy(),
            "volume": minutes["volume"].to_numpy(),
            "trade_count": minutes["trade_count"].array,
            "pv": (minutes["vwap"] * minutes["volume"]).where(known, 0.0).to_numpy(),
            "w": minutes["volume"].where(known, 0.0).to_numpy(),
            "vwap": minutes["vwap"].to_numpy(),
            "n": np.ones(len(minutes)),
        },
        index=pd.DatetimeIndex(minutes["timestamp"]).tz_convert(NY),
    )
    r = helper.resample(rule, label="left", closed="left")
    out = pd.DataFrame(
        {
            "open": r["open"].first(),
            "high": r["high"].max(),
            "low": r["low"].min(),
            "close": r["close"].last(),
            "volume": r["volume"].sum(),
            "trade_count": r["trade_count"].sum(min_count=1),
            "pv": r["pv"].sum(),
            "w": r["w"].sum(),
            "plain": r["vwap"].mean(),
            "n": r["n"].sum(),
        }
    )
    out = out[out["n"] > 0]  # no bars for buckets without minutes
    vwap = np.where(out["w"] > 0, out["pv"] / out["w"].where(out["w"] > 0), np.nan)
    vwap = np.where((out["w"] == 0) & (out["volume"] == 0), out["plain"], vwap)
    return pd.DataFrame(
        {
            "timestamp": out.index.tz_convert("UTC").as_unit("ns"),
            "open": out["open"].to_numpy(),
            "high": out["high"].to_numpy(),
            "low": out["low"].to_numpy(),
            "close": out["close"].to_numpy(),
            "volume": out["volume"].to_numpy(),
            "trade_count": out["trade_count"].astype("Int64").array,
            "vwap": vwap.astype("float64"),
        }
    ).reset_index(drop=True)


@pytest.fixture(scope="module")
def minutes() -> pd.DataFrame:
    return _random_minutes(list(SESSIONS))


def _minute(minutes: pd.DataFrame, local: str) -> pd.Series:
    ts = pd.Timestamp(local, tz=NY).tz_convert("UTC")
    row = minutes.loc[minutes["timestamp"] == ts]
    assert len(row) == 1
    return row.iloc[0]


# Our timeframe, and the pandas resample rule that must give the same bars.
RESAMPLE_RULES = [("5Min", "5min"), ("15Min", "15min"), ("30Min", "30min"), ("1Hour", "1h"), ("1Day", "1D")]


@pytest.mark.parametrize("session", ["regular", "all"])
@pytest.mark.parametrize(("timeframe", "rule"), RESAMPLE_RULES)
def test_matches_pandas_resample_on_new_york_time(
    minutes: pd.DataFrame, timeframe: str, rule: str, session: str
) -> None:
    source = _regular_only(minutes) if session == "regular" else minutes
    expected = _reference(source, rule)
    got = aggregate(minutes, timeframe, session=session)
    assert list(got.columns) == list(BAR_COLUMNS)
    assert str(got["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert got["trade_count"].dtype == "Int64"
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)


@pytest.mark.parametrize(("timeframe", "rule"), RESAMPLE_RULES)
def test_extended_hours_across_the_dst_switch_nights(timeframe: str, rule: str) -> None:
    """Overnight minutes through 02:00 on the spring-forward and fall-back Sundays (session="all")."""
    minutes = _random_minutes(["2025-03-09", "2025-11-02"], seed=7, hours=("00:00", "04:59"))
    got = aggregate(minutes, timeframe, session="all")
    pd.testing.assert_frame_equal(got, _reference(minutes, rule), check_exact=False, rtol=1e-12)
    if timeframe == "1Hour":
        # 01:00-01:59 happens twice on 2 November (EDT, then EST): two bars, an hour apart in UTC.
        local = got["timestamp"].dt.tz_convert(NY).dt.strftime("%Y-%m-%d %H:%M")
        assert list(got.loc[local == "2025-11-02 01:00", "timestamp"]) == [
            pd.Timestamp("2025-11-02 05:00", tz="UTC"),
            pd.Timestamp("2025-11-02 06:00", tz="UTC"),
        ]
        assert "2025-03-09 02:00" not in set(local)  # that hour does not exist in New York
        assert (got["volume"].sum(), len(got)) == (minutes["volume"].sum(), 4 + 6)  # 00,01,03,04 | 00,01,01,02,03,04


def test_regular_session_boundaries(minutes: pd.DataFrame) -> None:
    bars = aggregate(minutes, "5Min")
    local = bars["timestamp"].dt.tz_convert(NY)
    days = local.dt.strftime("%Y-%m-%d")
    assert set(days) == {d for d, hours in SESSIONS.items() if hours is not None}  # holiday, weekend: nothing
    for date, hours in SESSIONS.items():
        if hours is None:
            continue
        day_bars = local[days == date]
        assert day_bars.iloc[0] == pd.Timestamp(f"{date} 09:30", tz=NY)
        last = "12:55" if hours[1] == "13:00" else "15:55"
        assert day_bars.iloc[-1] == pd.Timestamp(f"{date} {last}", tz=NY)
    # The DST switch moves the session open from 14:30Z to 13:30Z.
    stamps = set(bars["timestamp"])
    assert pd.Timestamp("2025-03-07 14:30", tz="UTC") in stamps
    assert pd.Timestamp("2025-03-07 13:30", tz="UTC") not in stamps  # 08:30 EST: pre-market
    assert pd.Timestamp("2025-03-10 13:30", tz="UTC") in stamps
    # With extended hours, the holiday and the weekend keep their minutes.
    extended = aggregate(minutes, "15Min", session="all")
    assert (extended["timestamp"].dt.tz_convert(NY).dt.strftime("%Y-%m-%d") == "2025-07-04").sum() == 16 * 4


def test_daily_bars_are_stamped_new_york_midnight_and_respect_early_close(minutes: pd.DataFrame) -> None:
    daily = aggregate(minutes, "1Day")
    assert list(daily["timestamp"]) == [
        pd.Timestamp("2025-03-07 05:00", tz="UTC"),  # EST midnight
        pd.Timestamp("2025-03-10 04:00", tz="UTC"),  # EDT midnight
        pd.Timestamp("2025-07-03 04:00", tz="UTC"),
        pd.Timestamp("2025-11-26 05:00", tz="UTC"),
        pd.Timestamp("2025-11-28 05:00", tz="UTC"),
    ]
    black_friday = daily.set_index("timestamp").loc[pd.Timestamp("2025-11-28", tz=NY).tz_convert("UTC")]
    assert black_friday["open"] == _minute(minutes, "2025-11-28 09:30")["open"]
    assert black_friday["close"] == _minute(minutes, "2025-11-28 12:59")["close"]
    assert black_friday["close"] != _minute(minutes, "2025-11-28 15:59")["close"]
    regular = _regular_only(minutes)
    that_day = regular[regular["timestamp"].dt.tz_convert(NY).dt.strftime("%Y-%m-%d") == "2025-11-28"]
    assert len(that_day) == 210  # 09:30-12:59
    assert black_friday["high"] == that_day["high"].max()
    assert black_friday["volume"] == that_day["volume"].sum()

    extended = aggregate(minutes, "1Day", session="all")
    assert pd.Timestamp("2025-07-04 04:00", tz="UTC") in set(extended["timestamp"])
    assert extended.iloc[-1]["close"] == _minute(minutes, "2025-11-28 19:59")["close"]


def test_opening_half_hour_forms_the_nine_oclock_hourly_bar(minutes: pd.DataFrame) -> None:
    hourly = aggregate(minutes, "1Hour")
    day = hourly[hourly["timestamp"].dt.tz_convert(NY).dt.strftime("%Y-%m-%d") == "2025-11-26"]
    first = day.iloc[0]
    assert first["timestamp"] == pd.Timestamp("2025-11-26 09:00", tz=NY)
    assert first["timestamp"] == pd.Timestamp("2025-11-26 14:00", tz="UTC")
    assert first["open"] == _minute(minutes, "2025-11-26 09:30")["open"]
    assert first["close"] == _minute(minutes, "2025-11-26 09:59")["close"]
    half_hour = minutes[
        (minutes["timestamp"] >= pd.Timestamp("2025-11-26 09:30", tz=NY))
        & (minutes["timestamp"] < pd.Timestamp("2025-11-26 10:00", tz=NY))
    ]
    assert first["volume"] == half_hour["volume"].sum()
    assert day.iloc[1]["timestamp"] == pd.Timestamp("2025-11-26 10:00", tz=NY)
    assert day.iloc[-1]["timestamp"] == pd.Timestamp("2025-11-26 15:00", tz=NY)
    assert len(day) == 7  # 09:00 (half hour) .. 15:00
    # With extended hours the same bar starts at the 09:00 minute.
    extended = aggregate(minutes, "1Hour", session="all").set_index("timestamp")
    assert extended.loc[first["timestamp"], "open"] == _minute(minutes, "2025-11-26 09:00")["open"]


def _hand_frame() -> pd.DataFrame:
    stamps = [
        "10:00", "10:01", "10:02",  # bucket 10:00: mixed knowns
        "10:05", "10:06",  # bucket 10:05: nothing known
        "10:10", "10:11",  # bucket 10:10: no volume at all
        "10:15", "10:16",  # bucket 10:15: the only known vwap has no volume, the volume has no vwap
    ]  # fmt: skip
    return pd.DataFrame(
        {
            "timestamp": [pd.Timestamp(f"2025-11-26 {s}", tz=NY).tz_convert("UTC") for s in stamps],
            "open": [10.0, 10.5, 11.0, 12.0, 12.5, 13.0, 13.5, 14.0, 14.5],
            "high": [10.6, 11.2, 11.5, 12.6, 12.9, 13.6, 13.9, 14.6, 14.9],
            "low": [9.8, 10.1, 10.4, 11.9, 12.2, 12.8, 13.1, 13.8, 14.1],
            "close": [10.5, 11.0, 11.2, 12.5, 12.7, 13.5, 13.2, 14.5, 14.4],
            "volume": [100.0, 300.0, 50.0, 10.0, 20.0, 0.0, 0.0, 0.0, 40.0],
            "trade_count": pd.array([5, None, 2, None, None, 0, None, None, 3], dtype="Int64"),
            "vwap": [10.0, 11.0, np.nan, np.nan, np.nan, 13.0, 13.4, 14.2, np.nan],
        }
    )


def test_trade_count_and_vwap_by_hand() -> None:
    bars = aggregate(_hand_frame(), "5Min", session="all")
    assert list(bars["timestamp"].dt.tz_convert(NY).dt.strftime("%H:%M")) == ["10:00", "10:05", "10:10", "10:15"]
    assert list(bars["open"]) == [10.0, 12.0, 13.0, 14.0]
    assert list(bars["high"]) == [11.5, 12.9, 13.9, 14.9]
    assert list(bars["low"]) == [9.8, 11.9, 12.8, 13.8]
    assert list(bars["close"]) == [11.2, 12.7, 13.2, 14.4]
    assert list(bars["volume"]) == [450.0, 30.0, 0.0, 40.0]
    # trade_count: 5 + 2 (the unknown middle minute is skipped); all unknown -> NA; a known 0 stays 0.
    assert bars["trade_count"].tolist() == [7, pd.NA, 0, 3]
    # vwap: (10*100 + 11*300) / (100 + 300) = 4300 / 400; the 50 shares without a vwap carry no weight.
    assert bars.loc[0, "vwap"] == pytest.approx(10.75, rel=1e-15)
    assert np.isnan(bars.loc[1, "vwap"])  # no minute knows its vwap
    assert bars.loc[2, "vwap"] == pytest.approx((13.0 + 13.4) / 2, rel=1e-15)  # no volume: plain mean
    assert np.isnan(bars.loc[3, "vwap"])  # the traded volume's vwap is unknown: no honest answer


def test_one_minute_returns_the_session_minutes_unchanged(minutes: pd.DataFrame) -> None:
    got = aggregate(minutes, "1Min")
    expected = _regular_only(minutes).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected)
    pd.testing.assert_frame_equal(aggregate(minutes, "1Min", session="all"), minutes)


def test_unsorted_input_gives_the_same_bars(minutes: pd.DataFrame) -> None:
    shuffled = minutes.sample(frac=1.0, random_state=3)
    pd.testing.assert_frame_equal(aggregate(shuffled, "15Min"), aggregate(minutes, "15Min"))


@pytest.mark.parametrize("timeframe", ["2Hour", "1H", "1Week", "", "5min"])
def test_unknown_timeframe_is_refused(timeframe: str) -> None:
    with pytest.raises(ValueError, match="allowed: 1Min, 5Min, 15Min, 30Min, 1Hour, 1Day"):
        aggregate(_hand_frame(), timeframe)


def test_bad_session_and_naive_or_duplicate_timestamps_are_refused() -> None:
    frame = _hand_frame()
    with pytest.raises(ValueError, match="session"):
        aggregate(frame, "5Min", session="extended")
    naive = frame.assign(timestamp=frame["timestamp"].dt.tz_localize(None))
    with pytest.raises(ValueError, match="time-zone aware"):
        aggregate(naive, "5Min")
    missing = frame.assign(timestamp=frame["timestamp"].where(frame.index != 4))
    with pytest.raises(ValueError, match="missing timestamps"):
        aggregate(missing, "5Min")
    with pytest.raises(ValueError, match="duplicate"):
        aggregate(pd.concat([frame, frame.iloc[[0]]]), "5Min", session="all")


@pytest.mark.parametrize("timeframe", AGGREGATE_TIMEFRAMES)
def test_empty_in_empty_out(timeframe: str) -> None:
    reference = empty_frame()
    for source in (empty_frame(), _hand_frame().iloc[:0]):
        got = aggregate(source, timeframe)
        assert got.empty
        assert list(got.columns) == list(BAR_COLUMNS)
        pd.testing.assert_series_equal(got.dtypes, reference.dtypes)
    # Minutes that all fall outside the regular session also give an empty frame.
    overnight = _hand_frame().assign(timestamp=lambda f: f["timestamp"] - pd.Timedelta(hours=8))
    got = aggregate(overnight, timeframe)
    assert got.empty
    pd.testing.assert_series_equal(got.dtypes, reference.dtypes)
