"""Which column of a bar file is which bar field, and how its times are written.

People bring the files their tools write, and each tool lays bars out its own way: pandas' ``to_csv``
(the index as a first column, ``Unnamed: 0`` when it had no name, ``Datetime`` when it had one),
yfinance (``Date``, Capitalised names, an ``Adj Close``; since 0.2.51 three header rows ``Price`` /
``Ticker`` / ``Datetime``), Alpaca's API (``t,o,h,l,c,v,n,vw``) and alpaca-py's frames (``symbol,
timestamp, open...``), epoch seconds or milliseconds. :func:`csv_layout` and :func:`column_layout`
recognise these and say what they chose (the import report prints it); what they cannot tell is refused
with the columns found and the exact ``--column`` flags that would settle it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.domain.symbols import normalize_symbol
from core.market.file_reading import BarFileError
from core.market.frames import BAR_COLUMNS

REQUIRED = BAR_COLUMNS[:6]
TIME_OF_DAY = "time_of_day"  # the name a joined Time column gets while it is read
EPOCH_UNITS = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
_PER_SECOND = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}
# A numeric time column's unit from its median's size: 1e8 s is 1973, 1e11 s is the year 5138.
_EPOCH_RANGES = (("s", 1e8, 1e11), ("ms", 1e11, 1e14), ("us", 1e14, 1e17), ("ns", 1e17, 1e20))

# Lower-cased, trimmed header names (spaces and dashes read as underscores) -> bar field.
ALIASES: dict[str, str] = {
    **{name: "timestamp" for name in ("timestamp", "time", "datetime", "date", "t", "date_time", "timestamp_utc")},
    **{name: "open" for name in ("open", "o")},
    **{name: "high" for name in ("high", "h")},
    **{name: "low" for name in ("low", "l")},
    **{name: "close" for name in ("close", "c")},
    **{name: "volume" for name in ("volume", "v")},
    **{name: "trade_count" for name in ("trade_count", "trades", "n")},
    **{name: "vwap" for name in ("vwap", "vw")},
}
_ADJ_CLOSE = ("adj_close", "adj._close", "adjclose", "adjusted_close")
_SYMBOL_NAMES = ("symbol", "ticker")
# A pandas index written without a name: "Unnamed: 0" as pandas reads it back, "" as it is in the file.
_INDEX_NAMES = re.compile(r"^(unnamed:_?0|index|__index_level_0__|)$")
_ALPACA_SHORT = {"t", "o", "h", "l", "c", "v"}


@dataclass(frozen=True)
class Layout:
    """Where the bars are in a file: names for its columns, which column holds which field, notes to report."""

    name: str  # "named columns", "yfinance (3 header rows)", "Alpaca bars", "pandas index column"
    header_rows: int  # lines before the first data row (CSV)
    labels: tuple[str, ...]  # a unique name per column, in file order
    mapping: dict[str, str]  # column label -> bar field
    symbol_column: str | None = None  # a column naming each row's symbol (alpaca-py frames)
    tickers: tuple[str, ...] = ()  # the symbols the header says the file holds (yfinance)
    index_timestamp: bool = False  # the timestamp is an unnamed index column (must hold times, not row numbers)
    notes: tuple[str, ...] = field(default_factory=tuple)
    time_of_day: str | None = None  # a Time column joined to the Date column mapped to the timestamp

    def extra_columns(self) -> dict[str, str]:
        """Columns read besides the mapped ones, and the names they get: the symbol, a time of day."""
        extra = {self.symbol_column: "symbol"} if self.symbol_column else {}
        return extra | ({self.time_of_day: TIME_OF_DAY} if self.time_of_day else {})

    def column_of(self, bar_field: str) -> str:
        return next(label for label, f in self.mapping.items() if f == bar_field)


def csv_layout(
    rows: Sequence[Sequence[str]], file_name: str, symbol: str, explicit: Mapping[str, str] | None = None
) -> Layout:
    """The layout of a CSV file from its first rows (already split into fields)."""
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise BarFileError(f"{file_name} is empty (no header row)")
    first = [cell.strip().lstrip("\ufeff") for cell in rows[0]]
    if len(rows) > 1 and first and first[0].lower() == "price" and rows[1] and rows[1][0].strip().lower() == "ticker":
        return _yfinance(rows, file_name, symbol, explicit)
    return column_layout(unique_labels(first), file_name, explicit)


def column_layout(labels: Sequence[str], file_name: str, explicit: Mapping[str, str] | None = None) -> Layout:
    """The layout of a file with one header row (a CSV's first line, a Parquet file's column names)."""
    labels = tuple(labels)
    mapping, notes, index_timestamp, time_of_day = _map(labels, file_name, explicit or {})
    keys = {_key(label) for label in mapping}
    if index_timestamp:
        name = "pandas index column"
    elif keys >= _ALPACA_SHORT:
        name = "Alpaca bars (t,o,h,l,c,v)"
    else:
        name = "named columns"
    symbol_column = next((label for label in labels if _key(label) in _SYMBOL_NAMES and label not in mapping), None)
    return Layout(name, 1, labels, mapping, symbol_column, (), index_timestamp, tuple(notes), time_of_day)


def unique_labels(names: Sequence[str]) -> tuple[str, ...]:
    """Column names as pandas would read them back: an empty one is ``Unnamed: <i>``, a repeat gets ``.1``."""
    seen: dict[str, int] = {}
    out = []
    for i, raw in enumerate(names):
        name = str(raw).strip().lstrip("\ufeff") or f"Unnamed: {i}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return tuple(out)


def _key(label: str) -> str:
    return str(label).strip().lstrip("\ufeff").lower().replace(" ", "_").replace("-", "_")


def _map(
    labels: tuple[str, ...], file_name: str, explicit: Mapping[str, str]
) -> tuple[dict[str, str], list[str], bool, str | None]:
    mapping = _explicit(labels, file_name, explicit)
    notes = [f"{column} -> {f} (as given)" for column, f in mapping.items()]
    free = [label for label in labels if label not in mapping]
    candidates: dict[str, list[str]] = {}
    for label in free:
        f = ALIASES.get(_key(label))
        if f is not None and f not in mapping.values():
            candidates.setdefault(f, []).append(label)
    time_of_day = None
    stamps = candidates.get("timestamp", [])
    if len(stamps) == 2 and {_key(n) for n in stamps} == {"date", "time"}:  # a date and a time of day: joined
        date_label, time_of_day = sorted(stamps, key=lambda n: _key(n) != "date")
        candidates["timestamp"] = [date_label]
        notes.append(f"{date_label} and {time_of_day} joined into the timestamp")
    for f, names in candidates.items():
        exact = [n for n in names if _key(n) == f]
        if len(names) > 1 and len(exact) != 1:
            raise BarFileError(
                f"{file_name}: several columns could be the {f}: {', '.join(names)};"
                f" choose one with {' or '.join(_flag(f, n) for n in names)}"
            )
        mapping[exact[0] if exact else names[0]] = f
    if "close" not in mapping.values():
        adjusted = [label for label in free if _key(label) in _ADJ_CLOSE]
        if adjusted:
            mapping[adjusted[0]] = "close"
            notes.append(f"{adjusted[0]} used as the close (there is no Close column)")
    else:
        notes.extend(f"{label} ignored (Close used)" for label in free if _key(label) in _ADJ_CLOSE)
    index_timestamp = False
    # pandas writes an unnamed index first in a CSV (read back as "Unnamed: 0") and last in Parquet.
    index = [label for label in labels[:1] if _INDEX_NAMES.match(_key(label))] + [
        label for label in labels if _key(label) == "__index_level_0__"
    ]
    if "timestamp" not in mapping.values() and index:
        mapping[index[0]] = "timestamp"
        index_timestamp = True
        notes.append(f"{index[0]} (a pandas index without a name) read as the timestamp")
    missing = [f for f in REQUIRED if f not in mapping.values()]
    if missing:
        unused = [label for label in labels if label not in mapping]
        hint = " ".join(_flag(f, unused[i] if i < len(unused) else "COLUMN") for i, f in enumerate(missing))
        raise BarFileError(
            f"{file_name}: cannot tell which column is the {', '.join(missing)}"
            f" (found: {', '.join(labels) or 'none'}); name them, e.g. {hint}"
        )
    ordered = sorted(mapping.items(), key=lambda item: BAR_COLUMNS.index(item[1]))
    return dict(ordered), notes, index_timestamp, time_of_day


def _explicit(labels: tuple[str, ...], file_name: str, explicit: Mapping[str, str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    by_key = {_key(label): label for label in labels}
    for f, column in explicit.items():
        if f not in BAR_COLUMNS:
            raise BarFileError(f"unknown bar field {f!r} in the column mapping (fields: {', '.join(BAR_COLUMNS)})")
        label = column if column in labels else by_key.get(_key(column))
        if label is None:
            raise BarFileError(f"{file_name} has no column {column!r} (found: {', '.join(labels) or 'none'})")
        if label in mapping:
            raise BarFileError(f"column {label!r} is given for both {mapping[label]} and {f}")
        mapping[label] = f
    return mapping


def _flag(bar_field: str, column: str) -> str:
    return f"--column {bar_field}={column}" if re.fullmatch(r"[\w.:-]+", column) else f"--column '{bar_field}={column}'"


def _yfinance(rows: Sequence[Sequence[str]], file_name: str, symbol: str, explicit: Mapping[str, str] | None) -> Layout:
    """yfinance >= 0.2.51: ``Price,Close,High,...`` / ``Ticker,AAPL,AAPL,...`` / ``Datetime,,,,`` then data."""
    fields_row = [cell.strip() for cell in rows[0]]
    tickers_row = [normalize_symbol(cell) for cell in rows[1]] + [""] * max(0, len(fields_row) - len(rows[1]))
    third = [cell.strip() for cell in rows[2]] if len(rows) > 2 else []
    names_row = bool(third) and bool(third[0]) and not any(third[1:]) and not _looks_numeric(third[0])
    stamp_label = third[0] if names_row else "Date"
    tickers = tuple(dict.fromkeys(t for t in tickers_row[1:] if t))
    wanted = normalize_symbol(symbol)
    chosen = wanted if wanted in tickers else (tickers[0] if len(tickers) == 1 else None)
    if chosen is None:
        raise BarFileError(
            f"{file_name} holds bars of {', '.join(tickers) or 'no ticker'}, not {wanted}: import it as one of those"
        )
    raw = [stamp_label] + [
        f"{name} [{tickers_row[i]}]" if len(tickers) > 1 else name for i, name in enumerate(fields_row[1:], start=1)
    ]
    labels = unique_labels(raw)
    mine = [labels[0]] + [labels[i] for i in range(1, len(labels)) if tickers_row[i] == chosen]
    plain = [re.sub(r" \[.*\]$", "", label) for label in mine]
    base = column_layout(plain, file_name, _strip_tickers(explicit or {}))
    back = dict(zip(plain, mine, strict=True))
    mapping = {back[label]: f for label, f in base.mapping.items()}
    notes = base.notes + ((f"the {chosen} columns used",) if len(tickers) > 1 else ())
    return Layout(
        f"yfinance ({2 + names_row} header rows)",
        2 + int(names_row),
        labels,
        mapping,
        None,
        (chosen,),
        False,
        notes,
    )


def _strip_tickers(explicit: Mapping[str, str]) -> dict[str, str]:
    return {f: re.sub(r" \[.*\]$", "", column) for f, column in explicit.items()}


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- times ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Times:
    """A timestamp column made ready for ``check_frame``, and how it was read (for the report)."""

    column: pd.Series
    how: str  # "ISO text", "epoch milliseconds", "Parquet timestamp", ...


def read_times(
    column: pd.Series, file_name: str, *, epoch: str | None = None, naive_is_utc: bool = True, index: bool = False
) -> Times:
    """Text, epoch numbers or date/time values -> what ``check_frame`` reads fast and right.

    A column whose every filled cell is a number holds epoch times; their unit is ``epoch`` when given,
    else told from the median's size (seconds 1e8-1e11, milliseconds 1e11-1e14, then micro- and
    nanoseconds) and refused when the size fits none (row numbers, a spreadsheet's day count). An
    unnamed index column (``index``) must hold times, not row numbers.
    """
    zone = "no zone: taken as UTC" if naive_is_utc else "no zone: rejected"
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return Times(column, f"date/time values, zone {column.dt.tz}: converted to UTC")
    if pd.api.types.is_datetime64_dtype(column.dtype):
        return Times(column, f"date/time values, {zone}")
    if epoch is not None and epoch not in EPOCH_UNITS:
        raise BarFileError(f"unknown epoch unit {epoch!r}: use s or ms (or us, ns)")
    numbers = _all_numbers(column)
    if numbers is not None:
        if index and epoch is None:
            raise BarFileError(
                f"{file_name}: the unnamed index column holds numbers (a pandas row index?), not times;"
                " name the time column with --column timestamp=NAME, or pass --epoch s|ms if they are epoch times"
            )
        unit = epoch or _epoch_unit(numbers, file_name)
        return Times(_from_epoch(numbers, unit), f"epoch {EPOCH_UNITS[unit]} (UTC)")
    if epoch is not None:
        raise BarFileError(f"{file_name}: --epoch {epoch} given, but the timestamp column holds text, not numbers")
    if column.isna().any() or (column.dtype == object and not all(isinstance(v, str) for v in column.dropna())):
        return Times(column, f"date/time text, parsed row by row ({zone})")
    try:
        parsed = pd.to_datetime(column, format="ISO8601")
    except (ValueError, TypeError, OverflowError):
        return Times(column, f"date/time text, parsed row by row ({zone})")
    if parsed.isna().any():
        return Times(column, f"date/time text, parsed row by row ({zone})")
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return Times(parsed, "ISO text with a zone: converted to UTC")
    return Times(parsed, f"ISO text, {zone}")


def _all_numbers(column: pd.Series) -> np.ndarray | None:
    """The column as float64 when every filled cell is a number (blank cells NaN); else None."""
    if pd.api.types.is_bool_dtype(column.dtype):
        return None
    if pd.api.types.is_numeric_dtype(column.dtype):
        values = column.to_numpy(dtype="float64", na_value=np.nan)
        return values if np.isfinite(values).any() else None
    filled = column.dropna()
    if filled.empty:
        return None
    text = filled.astype(str).str.strip()
    if not text.str.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?").all():
        return None
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _epoch_unit(values: np.ndarray, file_name: str) -> str:
    finite = np.abs(values[np.isfinite(values)])
    median = float(np.median(finite)) if len(finite) else 0.0
    for unit, low, high in _EPOCH_RANGES:
        if low <= median < high:
            return unit
    raise BarFileError(
        f"{file_name}: the timestamp column holds numbers (median {median:,.0f}) that are no epoch time this"
        " file could mean; pass --epoch s|ms if they are, or name another column with --column timestamp=NAME"
    )


def _from_epoch(values: np.ndarray, unit: str) -> pd.Series:
    """Epoch numbers -> aware UTC times in microseconds (NaT for blanks; far values kept far, out of range)."""
    micros = values * (1e6 / _PER_SECOND[unit])
    limit = 9.0e18  # int64 microseconds hold +-292,000 years; beyond, clip (check_frame says out of range)
    with np.errstate(invalid="ignore"):
        clipped = np.clip(np.round(micros), -limit, limit)
    ints = np.where(np.isfinite(clipped), clipped, 0).astype(np.int64)
    stamps = ints.view("datetime64[us]").copy()
    stamps[~np.isfinite(micros)] = np.datetime64("NaT", "us")
    return pd.Series(pd.DatetimeIndex(stamps).tz_localize("UTC"))
