"""Bar files in and out: CSV and Parquet imports with a per-file report, and exports that round-trip.

Users bring history from elsewhere (broker downloads, spreadsheets, other tools) and want it in the
shared store; they also want their bars out again. A file from outside is never trusted: every row goes
through :func:`core.market.frames.check_frame`, bad rows are counted with their reason and row number so
the user can fix the file, and only the valid rows reach the database, in one transaction, so a file
lands completely or not at all. Bars already stored are kept, never overwritten: importing the same file
twice reports everything as duplicates. Exports write exactly :data:`BAR_COLUMNS` with UTC timestamps,
atomically (a temp file renamed into place), so an exported file always imports back to the same bars.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from core.domain.bars import timeframe_delta
from core.domain.symbols import normalize_symbol
from core.domain.timeframes import Timeframe
from core.market.frames import BAR_COLUMNS, check_frame
from core.market.store import BarStore

REPORTED_REJECTS = 20  # rejected rows listed one by one in a report (all of them are counted)

# Lower-cased, trimmed header names (spaces and dashes read as underscores) -> bar column.
ALIASES: dict[str, str] = {
    **{name: "timestamp" for name in ("timestamp", "time", "datetime", "date", "t")},
    **{name: "open" for name in ("open", "o")},
    **{name: "high" for name in ("high", "h")},
    **{name: "low" for name in ("low", "l")},
    **{name: "close" for name in ("close", "c")},
    **{name: "volume" for name in ("volume", "v")},
    **{name: "trade_count" for name in ("trade_count", "trades", "n")},
    **{name: "vwap" for name in ("vwap", "vw")},
}
REQUIRED = BAR_COLUMNS[:6]

_CSV, _PARQUET = "csv", "parquet"
_SOURCES = {_CSV: "csv_import", _PARQUET: "parquet_import"}


class RejectedRow(NamedTuple):
    """One rejected row: its number among the file's data rows (1 = first row after the header) and why."""

    row: int
    reason: str


@dataclass(frozen=True)
class ImportReport:
    """What one file import did. ``rows_read == imported + duplicates_skipped + rejected``."""

    path: Path
    symbol: str
    timeframe: str
    rows_read: int
    imported: int  # newly stored
    duplicates_skipped: int  # already stored, or a repeated timestamp inside the file (the first one counts)
    rejected: int
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    rejected_rows: tuple[RejectedRow, ...] = ()  # the first REPORTED_REJECTS, in file order

    def summary(self) -> str:
        """One line for a status bar or log, e.g. ``AAPL 1Min from bars.csv: 1,200 imported, ...``."""
        skipped = "duplicate" if self.duplicates_skipped == 1 else "duplicates"
        line = (
            f"{self.symbol} {self.timeframe} from {self.path.name}: {self.imported:,} imported, "
            f"{self.duplicates_skipped:,} {skipped} skipped, {self.rejected:,} rejected"
        )
        if self.rejected_reasons:
            line += " (" + ", ".join(f"{why}: {n:,}" for why, n in self.rejected_reasons.items()) + ")"
        return line


def import_bars(
    store: BarStore,
    path: str | os.PathLike[str],
    symbol: str,
    timeframe: str = Timeframe.MIN_1,
    *,
    naive_is_utc: bool = True,
) -> ImportReport:
    """Store the valid bars of a CSV (``.csv``, ``.csv.gz``) or Parquet (``.parquet``, ``.pq``) file.

    Columns are found by name, case-insensitively, with common aliases (``t``/``time``/``date``...,
    ``o``, ``h``, ``l``, ``c``, ``v``, ``n``/``trades``, ``vw``); other columns are ignored. Timestamps
    are bar open times: text is parsed as pandas parses it (ISO-8601 recommended), Parquet date/time
    columns are used as they are; zoned times are converted to UTC and naive ones taken as UTC unless
    ``naive_is_utc`` is false (then they are rejected). Raises ``ValueError`` (nothing stored) for an
    unknown extension, an unknown timeframe, a missing or ambiguous column, or an unreadable file.
    """
    path = Path(path)
    kind = _kind(path)
    timeframe_delta(timeframe)  # MalformedBar (a ValueError) before any work for a bad timeframe
    symbol = normalize_symbol(symbol)
    if not symbol:
        raise ValueError("symbol must not be empty")

    frame = _read_csv(path) if kind == _CSV else _read_parquet(path)
    rows_read = len(frame)
    frame["timestamp"] = _typed_timestamps(frame["timestamp"])
    check = check_frame(frame, naive_is_utc=naive_is_utc)
    rejected = check.rejected[["reason"]]

    result = store.insert(symbol, timeframe, check.valid, source=_SOURCES[kind])
    repeated_in_file = rows_read - len(rejected) - len(check.valid)
    reasons = {str(k): int(v) for k, v in rejected["reason"].value_counts().items()}
    listed = rejected.head(REPORTED_REJECTS)
    return ImportReport(
        path=path,
        symbol=symbol,
        timeframe=timeframe,
        rows_read=rows_read,
        imported=result.inserted,
        duplicates_skipped=repeated_in_file + result.duplicates,
        rejected=len(rejected),
        rejected_reasons=reasons,
        rejected_rows=tuple(
            RejectedRow(int(i) + 1, str(why)) for i, why in zip(listed.index, listed["reason"], strict=True)
        ),
    )


def export_bars(
    store: BarStore,
    path: str | os.PathLike[str],
    symbol: str,
    timeframe: str = Timeframe.MIN_1,
    start: datetime | None = None,
    end: datetime | None = None,
) -> int:
    """Write the stored bars with ``start <= open time < end`` to a CSV or Parquet file; returns the row count.

    Columns are exactly :data:`BAR_COLUMNS`. CSV timestamps are ISO-8601 UTC with an explicit offset
    (``2025-01-02T14:30:00+00:00``), missing trade counts / VWAPs are empty fields; Parquet keeps
    zone-aware UTC timestamps and nullable columns. The file is replaced atomically: a failed export
    leaves any previous file at ``path`` as it was.
    """
    path = Path(path)
    kind = _kind(path)
    timeframe_delta(timeframe)
    frame = store.load_frame(normalize_symbol(symbol), timeframe, start, end)
    frame = frame.loc[:, list(BAR_COLUMNS)]
    if kind == _CSV:
        gzip = path.name.lower().endswith(".gz")
        _write_atomically(path, lambda tmp: _write_csv(frame, tmp, gzip=gzip))
    else:
        _write_atomically(path, lambda tmp: frame.to_parquet(tmp, index=False))
    return len(frame)


# -- reading -----------------------------------------------------------------------------------------------


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return _CSV
    if name.endswith((".parquet", ".pq")):
        return _PARQUET
    raise ValueError(f"cannot tell the format of {path.name!r}: use .csv, .csv.gz, .parquet or .pq")


def _columns(found: list[object], path: Path) -> dict[str, str]:
    """File column name -> bar column, for the bar columns the file has; ValueError if any required is missing."""
    candidates: dict[str, list[str]] = {}
    for name in found:
        key = str(name).strip().lstrip("\ufeff").lower().replace(" ", "_").replace("-", "_")
        if key in ALIASES:
            candidates.setdefault(ALIASES[key], []).append(str(name))
    mapping: dict[str, str] = {}
    for column, names in candidates.items():
        exact = [n for n in names if n.strip().lower() == column]
        if len(names) > 1 and len(exact) != 1:
            raise ValueError(f"{path.name}: several columns could be the {column}: {', '.join(names)}")
        mapping[exact[0] if exact else names[0]] = column
    missing = [c for c in REQUIRED if c not in mapping.values()]
    if missing:
        raise ValueError(
            f"{path.name} lacks column(s) {', '.join(missing)} (found: {', '.join(map(str, found)) or 'none'})"
        )
    return mapping


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        header = list(pd.read_csv(path, nrows=0).columns)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path.name} is empty (no header row)") from None
    mapping = _columns(header, path)
    stamp = next(name for name, column in mapping.items() if column == "timestamp")
    # The timestamp stays text (never an epoch number read as nanoseconds); index_col=False keeps a
    # row with a trailing comma from shifting every column.
    try:
        frame = pd.read_csv(path, usecols=list(mapping), dtype={stamp: "str"}, index_col=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path.name} could not be read as CSV: {exc}") from exc
    return frame.rename(columns=mapping).reset_index(drop=True)


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        names = list(pq.read_schema(path).names)
    except Exception as exc:  # pyarrow raises its own error types for a file that is not Parquet
        raise ValueError(f"{path.name} is not a readable Parquet file: {exc}") from exc
    mapping = _columns(names, path)
    frame = pd.read_parquet(path, columns=list(mapping)).rename(columns=mapping).reset_index(drop=True)
    stamps = frame["timestamp"]
    if pd.api.types.is_numeric_dtype(stamps.dtype) and not pd.api.types.is_bool_dtype(stamps.dtype):
        raise ValueError(
            f"{path.name}: the timestamp column holds numbers ({stamps.dtype}); epoch numbers are ambiguous"
            " (seconds? milliseconds?), store a timestamp or ISO-8601 text column instead"
        )
    return frame


def _typed_timestamps(column: pd.Series) -> pd.Series:
    """The timestamps in a form check_frame handles fast and correctly.

    Text that is all ISO-8601 with one zone (or none) is parsed in one vectorised call; anything else
    (other formats, mixed zones, unparseable cells) goes to check_frame as it is, which parses row by
    row and rejects what it cannot read.
    """
    if isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(column.dtype):
        return column
    if column.isna().any():
        return column
    try:
        parsed = pd.to_datetime(column, format="ISO8601")
    except (ValueError, TypeError, OverflowError):
        return column
    return column if parsed.isna().any() else parsed


# -- writing -----------------------------------------------------------------------------------------------


def _iso_utc(stamps: pd.Series) -> np.ndarray:
    """``2025-01-02T14:30:00+00:00`` per bar, vectorised (microseconds only when some bar has them)."""
    values = stamps.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")
    whole_seconds = bool((values.astype(np.int64) % 1_000_000 == 0).all())
    text = np.datetime_as_string(values, unit="s" if whole_seconds else "us")
    return np.char.add(text.astype(str), "+00:00").astype(object)


def _write_csv(frame: pd.DataFrame, target: str, *, gzip: bool) -> None:
    """Arrow's CSV writer: ten times pandas' speed, and it too writes the shortest text that reads back
    as the same float64. Nothing needs quoting (ISO times and numbers), so nothing is quoted; the header
    is written here because Arrow always quotes it."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    table = pa.Table.from_pandas(frame.assign(timestamp=_iso_utc(frame["timestamp"])), preserve_index=False)
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
    stream = pa.CompressedOutputStream(target, "gzip") if gzip else pa.OSFile(target, "wb")
    with stream:
        stream.write((",".join(frame.columns) + "\n").encode())
        pa_csv.write_csv(table, stream, options)


def _write_atomically(path: Path, write: Callable[[str], object]) -> None:
    """Run ``write`` on a temp file next to ``path``, flush it to disk, then rename it over ``path``."""
    tmp = str(path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # the umask applies, unlike mkstemp's 0600
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
