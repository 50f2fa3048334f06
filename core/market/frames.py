"""Bars in bulk: one column layout for many bars, validated with vectorised rules.

`NormalizedBar` guards a single bar; history, imports and the store move hundreds
of thousands at a time, where one Python object per bar would cost more than the
database. A *bar frame* is a pandas DataFrame with exactly :data:`BAR_COLUMNS`, sorted by
a unique UTC ``timestamp``; :func:`check_frame` applies NormalizedBar's rules to
every row at once and separates the rows that fail, each with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.domain.bars import BarArrays

BAR_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume", "trade_count", "vwap")
PRICE_COLUMNS = ("open", "high", "low", "close")
MAX_TRADE_COUNT = 2**31 - 1  # the column is a PostgreSQL integer
MAX_VOLUME = 2.0**63  # the column is a bigint (whole shares; a fractional volume is rounded when stored)


# Open times the store can hold and read back: its loads without a range span [1900, 2200) (core.market.store),
# and a year such as 9999 or 1 would not fit the nanosecond times the frames carry.
EARLIEST = pd.Timestamp("1900-01-01T00:00:00Z")
LATEST = pd.Timestamp("2200-01-01T00:00:00Z")  # exclusive
CONFLICT = "conflicting values for a repeated timestamp"


@dataclass(frozen=True)
class Plausible:
    """Bounds a bar from outside must respect beyond the storage rules: catches unit mix-ups and garbage
    (the issue's 1e308 prices and 9e18 volumes) without refusing any real US equity (BRK.A trades near
    $750,000; the busiest days of SPY trade under 1e9 shares). Overridable per import."""

    max_price: float = 1_000_000.0
    max_volume: float = 1e12

    def __post_init__(self) -> None:
        if not (0 < self.max_price < float("inf")) or not (0 < self.max_volume < float("inf")):
            raise ValueError("the price and volume limits must be finite numbers > 0")


@dataclass(frozen=True)
class FrameCheck:
    """``valid`` is a bar frame; ``rejected`` holds the input rows that failed, with a ``reason`` column.

    ``repeats`` counts exact repeats of a timestamp dropped from ``valid`` (the first one is kept);
    ``rows`` holds each valid row's index label in the input (for reports that name rows)."""

    valid: pd.DataFrame
    rejected: pd.DataFrame
    repeats: int = 0
    rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

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


def check_frame(
    frame: pd.DataFrame,
    *,
    naive_is_utc: bool = False,
    plausible: Plausible | None = None,
    reject_conflicts: bool = False,
) -> FrameCheck:
    """Validate and normalise ``frame`` (columns by name; ``trade_count``/``vwap`` optional).

    Timestamps must carry a zone, unless ``naive_is_utc`` (file imports: naive means UTC, as seed
    003 says), and lie in [:data:`EARLIEST`, :data:`LATEST`) (else "timestamp out of range", that row
    only). ``plausible`` adds upper bounds on prices and volumes (imports use them; a broker's own bars
    are not second-guessed). Returns the valid rows as a bar frame sorted by time. A timestamp repeated
    with the same open/high/low/close/volume is kept once (the first); repeated with different values,
    the first is kept too, unless ``reject_conflicts``: then every row of that timestamp is rejected
    with :data:`CONFLICT`, since nothing says which one is right.
    """
    missing = [c for c in BAR_COLUMNS[:6] if c not in frame.columns]
    if missing:
        raise ValueError(f"bar data lacks column(s): {', '.join(missing)}")
    n = len(frame)
    reason = np.full(n, "", dtype=object)

    def reject(mask: np.ndarray, why: str) -> None:
        reason[mask & (reason == "")] = why

    micros, bad_time = _utc_micros(frame["timestamp"], naive_is_utc)
    reject(bad_time == 1, "timestamp is not a date/time")
    reject(bad_time == 2, "timestamp is naive (no time zone)")
    reject(bad_time == 3, "timestamp out of range")

    cols: dict[str, np.ndarray] = {}
    for name in (*PRICE_COLUMNS, "volume"):
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        reject(~np.isfinite(values), f"{name} is missing or not a finite number")
        cols[name] = values
    o, h, lo, c, v = (cols[k] for k in ("open", "high", "low", "close", "volume"))
    with np.errstate(invalid="ignore"):
        reject((o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0), "price must be > 0")
        if plausible is not None:
            top = np.maximum.reduce([o, h, lo, c])
            reject(top > plausible.max_price, f"price above {plausible.max_price:,g} (the plausibility limit)")
        reject(h < lo, "high is below low")
        reject(h < np.maximum(o, c), "high is below open/close")
        reject(lo > np.minimum(o, c), "low is above open/close")
        reject(v < 0, "volume is negative")
        reject(v >= MAX_VOLUME, "volume is too large")
        if plausible is not None:
            reject(v > plausible.max_volume, f"volume above {plausible.max_volume:,g} (the plausibility limit)")

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

    conflicting = _conflicts(reason == "", micros, np.column_stack([o, h, lo, c, v]))
    if reject_conflicts:
        reject(conflicting, CONFLICT)
    ok = reason == ""
    rejected = frame.loc[~ok].copy()
    rejected["reason"] = reason[~ok]
    valid = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(micros[ok], unit="us", utc=True).as_unit("ns"),
            "open": o[ok],
            "high": h[ok],
            "low": lo[ok],
            "close": c[ok],
            "volume": v[ok],
            "trade_count": pd.array(np.where(np.isfinite(count[ok]), count[ok], np.nan)).astype("Int64"),
            "vwap": vwap[ok],
        }
    )
    valid.index = frame.index[ok]
    valid = valid.sort_values("timestamp", kind="stable").drop_duplicates("timestamp", keep="first")
    rows = valid.index.to_numpy()
    return FrameCheck(valid.reset_index(drop=True), rejected, repeats=int(ok.sum()) - len(valid), rows=rows)


def _conflicts(ok: np.ndarray, micros: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Rows (among ``ok``) whose timestamp another ok row repeats with different OHLCV values.

    Vectorised (one sort): a row conflicts when, within its run of equal timestamps, any value differs
    from the run's first row."""
    out = np.zeros(len(ok), dtype=bool)
    rows = np.flatnonzero(ok)
    if len(rows) < 2:
        return out
    order = rows[np.argsort(micros[rows], kind="stable")]
    stamps = micros[order]
    starts = np.r_[True, stamps[1:] != stamps[:-1]]
    if starts.all():
        return out
    run = np.cumsum(starts) - 1  # run number of each sorted row
    first = order[np.flatnonzero(starts)][run]  # each sorted row's run's first row
    differs = (values[order] != values[first]).any(axis=1)
    bad_runs = np.unique(run[differs])
    out[order[np.isin(run, bad_runs)]] = True
    return out


def _utc_micros(column: pd.Series, naive_is_utc: bool) -> tuple[np.ndarray, np.ndarray]:
    """(int64 microseconds since the epoch, UTC; problem per row: 0 ok, 1 unparseable, 2 naive, 3 out of range).

    Microseconds, not nanoseconds: pandas 3 parses ``9999-12-31`` into microseconds, where converting the
    whole column to nanoseconds failed the file (OutOfBoundsDatetime); now that row alone is out of range."""
    n = len(column)
    problem = np.zeros(n, dtype=np.int8)
    lo, hi = EARLIEST.value // 1000, LATEST.value // 1000
    if isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(column.dtype):
        if not isinstance(column.dtype, pd.DatetimeTZDtype) and not naive_is_utc:
            problem[:] = 2
        missing = column.isna().to_numpy()
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            column = column.dt.tz_convert("UTC").dt.tz_localize(None)
        native = column.to_numpy()
        unit, _ = np.datetime_data(native.dtype)
        ticks = native.view("int64")
        bounds = np.array([EARLIEST.tz_localize(None), LATEST.tz_localize(None)], dtype=f"datetime64[{unit}]")
        first, last = bounds.view("int64")
        outside = ~missing & ((ticks < first) | (ticks >= last))
        problem[outside & (problem == 0)] = 3
        problem[missing] = 1
        inside = problem == 0
        stamps = np.zeros(n, dtype=np.int64)
        stamps[inside] = native[inside].astype("datetime64[us]").view("int64")
        return stamps, problem
    stamps = np.zeros(n, dtype=np.int64)
    for i, value in enumerate(column.tolist()):  # mixed or text input (files): parse one by one
        try:
            ts = pd.Timestamp(value)
        except OverflowError:
            problem[i] = 3
            continue
        except (TypeError, ValueError):
            problem[i] = 1 if not isinstance(value, str) or not _looks_like_a_far_date(value) else 3
            continue
        if ts is pd.NaT:
            problem[i] = 1
            continue
        if ts.tzinfo is None:
            if not naive_is_utc:
                problem[i] = 2
                continue
            ts = ts.tz_localize("UTC")
        try:
            micros = int(ts.tz_convert("UTC").as_unit("us").asm8.view("i8"))
        except (OverflowError, ValueError):
            problem[i] = 3
            continue
        if not lo <= micros < hi:
            problem[i] = 3
            continue
        stamps[i] = micros
    return stamps, problem


def _looks_like_a_far_date(text: str) -> bool:
    """A date pandas refuses only for its year (``10000-01-01``, ``-0001-01-01``): out of range, not garbage."""
    head = text.strip().lstrip("+-")
    return len(head) > 4 and head[:5].isdigit() and head[5:6] == "-"


def frame_to_arrays(frame: pd.DataFrame) -> BarArrays:
    """Chart/indicator columns of a bar frame (time in epoch seconds)."""
    t = frame["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]").to_numpy("int64")
    return BarArrays(
        t / 1e9,
        *(frame[c].to_numpy(dtype="float64") for c in (*PRICE_COLUMNS, "volume")),
    )
