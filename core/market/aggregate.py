"""Longer bars built from stored 1-minute bars, aligned the way Alpaca aligns them.

Why: the store keeps one-minute bars only. Charts, indicators and backtests at 5Min, 15Min, 1Hour
and 1Day build their bars from those minutes, so every timeframe uses the same data the
1-minute store holds, and a gap or a correction in the minutes shows up at every timeframe. The
bars have to match what Alpaca's market-data API would return for the same range, or a strategy
would behave one way on the bars we build and another way on the bars Alpaca sends:

* Intraday buckets follow the clock in America/New_York: 5Min buckets start at :00, :05, ...,
  15Min buckets at :00/:15/:30/:45 and 1Hour buckets on the hour. The 09:30-09:59 ET minutes
  therefore form the 09:00 ET hourly bar, as Alpaca's do. A bar is stamped with its bucket's
  start (in UTC); a bucket without minutes gives no bar (nothing is forward-filled).
* A daily bar covers one New York trading date and is stamped with midnight New York time of
  that date, in UTC (04:00Z in summer, 05:00Z in winter), as Alpaca stamps its daily bars.
* ``session="regular"`` first drops every minute outside the regular session of the XNYS
  calendar (09:30 to the close, early closes such as 13:00 ET included, holidays excluded);
  ``session="all"`` keeps the extended hours, which is what Alpaca puts in its intraday bars.

Everything is vectorised (NumPy ``reduceat`` over runs of equal bucket keys): a million minutes
aggregate in a fraction of a second, so bars can be built on demand rather than stored per
timeframe.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from core.domain.timeframes import Timeframe
from core.market.calendar import TradingCalendar
from core.market.frames import BAR_COLUMNS, empty_frame

AGGREGATE_TIMEFRAMES = tuple(Timeframe)
SESSIONS = ("regular", "all")

NEW_YORK = "America/New_York"

_MINUTE_NS = 60 * 1_000_000_000
_DAY_NS = 24 * 60 * _MINUTE_NS
_INTRADAY_STEP_NS: dict[str, int] = {
    timeframe: int(timeframe.delta.total_seconds()) * 1_000_000_000
    for timeframe in Timeframe
    if timeframe not in (Timeframe.MIN_1, Timeframe.DAY_1)
}


def aggregate(frame: pd.DataFrame, timeframe: str, *, session: str = "regular") -> pd.DataFrame:
    """Aggregate a 1-minute bar frame into a bar frame of ``timeframe`` (one of :data:`AGGREGATE_TIMEFRAMES`).

    ``session`` is ``"regular"`` (only minutes inside the XNYS regular session) or ``"all"``
    (every minute, extended hours included). ``"1Min"`` returns the input's minutes kept by the
    session filter. Per bar: open = first open, high = max, low = min, close = last close,
    volume = sum, trade_count = sum of the known counts (NA when none is known), vwap =
    volume-weighted mean of the known minute vwaps (plain mean when the bar's volume is 0; NaN
    when no minute with a known vwap can give it).
    """
    if timeframe not in AGGREGATE_TIMEFRAMES:
        allowed = ", ".join(AGGREGATE_TIMEFRAMES)
        raise ValueError(f"cannot aggregate to timeframe {timeframe!r} (allowed: {allowed})")
    if session not in SESSIONS:
        raise ValueError(f"unknown session {session!r} (allowed: {', '.join(SESSIONS)})")
    missing = [c for c in BAR_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"not a bar frame: missing column(s) {', '.join(missing)}")
    if frame.empty:
        return empty_frame()

    utc_ns = _utc_nanoseconds(frame["timestamp"])
    if not (utc_ns[1:] > utc_ns[:-1]).all():
        order = np.argsort(utc_ns, kind="stable")
        utc_ns = utc_ns[order]
        if not (utc_ns[1:] > utc_ns[:-1]).all():
            raise ValueError("bar frame has duplicate timestamps")
        frame = frame.iloc[order]
    # Wall-clock New York time of each minute, as nanoseconds since the (local) epoch.
    local_ns = pd.DatetimeIndex(utc_ns.astype("datetime64[ns]")).tz_localize("UTC").tz_convert(NEW_YORK)
    local_ns = local_ns.tz_localize(None).asi8

    if session == "regular":
        keep = _in_regular_session(utc_ns, local_ns)
        if not keep.all():
            frame, utc_ns, local_ns = frame.iloc[keep], utc_ns[keep], local_ns[keep]
            if frame.empty:
                return empty_frame()

    if timeframe == Timeframe.MIN_1:
        return _as_bar_frame(frame, utc_ns)

    if timeframe == Timeframe.DAY_1:
        local_day = local_ns // _DAY_NS * _DAY_NS
        starts = _run_starts(local_day)
        # Midnight is never skipped or repeated in New York (DST switches at 02:00), so this is exact.
        days = pd.DatetimeIndex(local_day[starts].astype("datetime64[ns]")).tz_localize(NEW_YORK)
        bucket_ns = days.tz_convert("UTC").tz_localize(None).asi8
    else:
        step = _INTRADAY_STEP_NS[timeframe]
        offset = local_ns - utc_ns  # each minute's own UTC offset, so DST changes need no special case
        bucket = (local_ns // step) * step - offset
        starts = _run_starts(bucket)
        bucket_ns = bucket[starts]
    return _reduce(frame, starts, bucket_ns)


def _utc_nanoseconds(stamps: pd.Series) -> np.ndarray:
    if not isinstance(stamps.dtype, pd.DatetimeTZDtype):
        raise ValueError("bar frame timestamps must be time-zone aware (UTC)")
    if stamps.isna().any():
        raise ValueError("bar frame has missing timestamps")
    return pd.DatetimeIndex(stamps).tz_convert("UTC").as_unit("ns").asi8


def _run_starts(keys: np.ndarray) -> np.ndarray:
    """Positions where a run of equal, time-ordered bucket keys begins."""
    return np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))


def _in_regular_session(utc_ns: np.ndarray, local_ns: np.ndarray) -> np.ndarray:
    """Mask of the minutes whose bar opens inside an XNYS regular session ([open, close))."""
    local_day = local_ns // _DAY_NS
    session_day, open_ns, close_ns = _sessions(int(local_day[0]), int(local_day[-1]))
    if len(session_day) == 0:
        return np.zeros(len(utc_ns), dtype=bool)
    pos = np.searchsorted(session_day, local_day).clip(0, len(session_day) - 1)
    trading = session_day[pos] == local_day
    return trading & (utc_ns >= open_ns[pos]) & (utc_ns < close_ns[pos])


def _sessions(first_day: int, last_day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(session date as days since 1970-01-01, open and close in UTC ns) of the XNYS sessions."""
    last_year = int(np.datetime64(last_day, "D").astype("datetime64[Y]").astype(int)) + 1970
    return TradingCalendar(max(last_year, datetime.now(UTC).year + 1)).trading_day_arrays()


def _reduce(frame: pd.DataFrame, starts: np.ndarray, bucket_ns: np.ndarray) -> pd.DataFrame:
    """One bar per run beginning at ``starts`` (rows are time-ordered, runs are contiguous)."""
    ends = np.append(starts[1:], len(frame)) - 1
    opens = frame["open"].to_numpy(dtype="float64")
    highs = frame["high"].to_numpy(dtype="float64")
    lows = frame["low"].to_numpy(dtype="float64")
    closes = frame["close"].to_numpy(dtype="float64")
    volume = frame["volume"].to_numpy(dtype="float64")

    counts = frame["trade_count"].astype("Int64")
    count_known = counts.notna().to_numpy()
    count_sum = np.add.reduceat(counts.fillna(0).to_numpy(dtype="int64"), starts)
    count_none = np.add.reduceat(count_known.astype(np.int64), starts) == 0

    vwap = frame["vwap"].to_numpy(dtype="float64", na_value=np.nan)
    vwap_known = np.isfinite(vwap)
    weight = np.where(vwap_known, volume, 0.0)
    weighted = np.add.reduceat(np.where(vwap_known, vwap * volume, 0.0), starts)
    weight_sum = np.add.reduceat(weight, starts)
    known_n = np.add.reduceat(vwap_known.astype(np.int64), starts)
    known_sum = np.add.reduceat(np.where(vwap_known, vwap, 0.0), starts)
    volume_sum = np.add.reduceat(volume, starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        bar_vwap = np.where(
            weight_sum > 0,
            weighted / weight_sum,
            np.where((volume_sum == 0) & (known_n > 0), known_sum / known_n, np.nan),
        )

    return pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(bucket_ns.astype("datetime64[ns]")).tz_localize("UTC"),
            "open": opens[starts],
            "high": np.maximum.reduceat(highs, starts),
            "low": np.minimum.reduceat(lows, starts),
            "close": closes[ends],
            "volume": volume_sum,
            "trade_count": pd.arrays.IntegerArray(count_sum, count_none),
            "vwap": bar_vwap,
        },
        columns=list(BAR_COLUMNS),
    )


def _as_bar_frame(frame: pd.DataFrame, utc_ns: np.ndarray) -> pd.DataFrame:
    """The (filtered) minutes themselves, with the bar-frame dtypes and a fresh index."""
    return pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(utc_ns.astype("datetime64[ns]")).tz_localize("UTC"),
            **{c: frame[c].to_numpy(dtype="float64") for c in ("open", "high", "low", "close", "volume")},
            "trade_count": frame["trade_count"].astype("Int64").array,
            "vwap": frame["vwap"].to_numpy(dtype="float64", na_value=np.nan),
        },
        columns=list(BAR_COLUMNS),
    )
