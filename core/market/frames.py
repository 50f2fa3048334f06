"""Bars in bulk: one column layout for many bars, validated with vectorised rules.

`NormalizedBar` guards a single bar; history, imports and the store move hundreds
of thousands at a time, where one Python object per bar would cost more than the
database. A *bar frame* is a pandas DataFrame with exactly :data:`BAR_COLUMNS`, sorted by
a unique UTC ``timestamp``; :func:`check_frame` applies NormalizedBar's rules to
every row at once and separates the rows that fail, each with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.domain.bars import BarArrays

BAR_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume", "trade_count", "vwap")
PRICE_COLUMNS = ("open", "high", "low", "close")
MAX_TRADE_COUNT = 2**31 - 1  # the column is a PostgreSQL integer
MAX_VOLUME = 2.0**63  # the column is a bigint (whole shares; a fractional volume is rounded when stored)


@dataclass(frozen=True)
class FrameCheck:
    """``valid`` is a bar frame; ``rejected`` holds the input rows that failed, with a ``reason`` column."""

    valid: pd.DataFrame
    rejected: pd.DataFrame

    @property
    def reasons(self) -> dict[str, int]:
        """How many rows failed each rule (for reports and logs)."""
        if self.rejected.empty:
            return {}
        return {str(k): int(v) for k, v in self.rejected["reason"].value_counts().items()}


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": pd.Series([], dtype="datetime64[ns, UTC]"),
            **{c: pd.Series([], dtype="float64") for c in (*PRICE_COLUMNS, "volume")},
            "trade_count": pd.Series([], dtype="Int64"),
            "vwap": pd.Series([], dtype="float64"),
        }
    )


def check_frame(frame: pd.DataFrame, *, naive_is_utc: bool = False) -> FrameCheck:
    """Validate and normalise ``frame`` (columns by name; ``trade_count``/``vwap`` optional).

    Timestamps must carry a zone, unless ``naive_is_utc`` (file imports: naive means UTC, as seed
    003 says). Returns the valid rows as a bar frame sorted by time, with duplicate timestamps
    inside the input kept once (the first), and the rejected rows with their reasons.
    """
    missing = [c for c in BAR_COLUMNS[:6] if c not in frame.columns]
    if missing:
        raise ValueError(f"bar data lacks column(s): {', '.join(missing)}")
    n = len(frame)
    reason = np.full(n, "", dtype=object)

    def reject(mask: np.ndarray, why: str) -> None:
        reason[mask & (reason == "")] = why

    stamps, bad_time = _utc_stamps(frame["timestamp"], naive_is_utc)
    reject(bad_time == 1, "timestamp is not a date/time")
    reject(bad_time == 2, "timestamp is naive (no time zone)")

    cols: dict[str, np.ndarray] = {}
    for name in (*PRICE_COLUMNS, "volume"):
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        reject(~np.isfinite(values), f"{name} is missing or not a finite number")
        cols[name] = values
    o, h, lo, c, v = (cols[k] for k in ("open", "high", "low", "close", "volume"))
    with np.errstate(invalid="ignore"):
        reject((o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0), "price must be > 0")
        reject(h < lo, "high is below low")
        reject(h < np.maximum(o, c), "high is below open/close")
        reject(lo > np.minimum(o, c), "low is above open/close")
        reject(v < 0, "volume is negative")
        reject(v >= MAX_VOLUME, "volume is too large")

    count = pd.Series(np.nan, index=frame.index) if "trade_count" not in frame else frame["trade_count"]
    count = pd.to_numeric(count, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        fractional = np.isfinite(count) & (count != np.floor(count))
        reject((count < 0) | fractional, "trade_count must be a whole number >= 0")
        reject(count > MAX_TRADE_COUNT, "trade_count is too large")
    vwap = pd.Series(np.nan, index=frame.index) if "vwap" not in frame else frame["vwap"]
    vwap = pd.to_numeric(vwap, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        reject(np.isinf(vwap) | (vwap <= 0), "vwap must be > 0")

    ok = reason == ""
    rejected = frame.loc[~ok].copy()
    rejected["reason"] = reason[~ok]
    valid = pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(stamps[ok].astype("datetime64[ns]")).tz_localize("UTC"),
            "open": o[ok],
            "high": h[ok],
            "low": lo[ok],
            "close": c[ok],
            "volume": v[ok],
            "trade_count": pd.array(np.where(np.isfinite(count[ok]), count[ok], np.nan)).astype("Int64"),
            "vwap": vwap[ok],
        }
    )
    valid = valid.sort_values("timestamp", kind="stable").drop_duplicates("timestamp", keep="first")
    return FrameCheck(valid.reset_index(drop=True), rejected)


def _utc_stamps(column: pd.Series, naive_is_utc: bool) -> tuple[np.ndarray, np.ndarray]:
    """(int64 nanoseconds since the epoch, UTC; problem code per row: 0 ok, 1 unparseable, 2 naive)."""
    n = len(column)
    problem = np.zeros(n, dtype=np.int8)
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        problem[column.isna().to_numpy()] = 1
        stamps = column.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]").to_numpy("int64")
        return stamps, problem
    if pd.api.types.is_datetime64_dtype(column.dtype):
        if not naive_is_utc:
            problem[:] = 2
        problem[column.isna().to_numpy()] = 1
        return column.astype("datetime64[ns]").to_numpy("int64"), problem
    stamps = np.zeros(n, dtype=np.int64)
    for i, value in enumerate(column.tolist()):  # mixed or text input (files): parse one by one
        try:
            ts = pd.Timestamp(value)
        except (TypeError, ValueError):
            problem[i] = 1
            continue
        if ts is pd.NaT:
            problem[i] = 1
            continue
        if ts.tzinfo is None:
            if not naive_is_utc:
                problem[i] = 2
                continue
            ts = ts.tz_localize("UTC")
        stamps[i] = ts.tz_convert("UTC").as_unit("ns").value
    return stamps, problem


def frame_to_arrays(frame: pd.DataFrame) -> BarArrays:
    """Chart/indicator columns of a bar frame (time in epoch seconds)."""
    t = frame["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]").to_numpy("int64")
    return BarArrays(
        t / 1e9,
        *(frame[c].to_numpy(dtype="float64") for c in (*PRICE_COLUMNS, "volume")),
    )
