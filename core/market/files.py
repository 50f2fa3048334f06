"""Bar files in and out: CSV and Parquet imports with a per-file report, and exports that round-trip.

Users bring history from elsewhere (broker downloads, yfinance, Alpaca, spreadsheets, pandas) and want it
in the shared store; they also want their bars out again. A file from outside is never trusted:

* its bytes are decoded or refused (``core.market.file_reading``: encodings, binary files, a 2 GiB cap
  on the text a file may expand to), its layout recognised (``core.market.file_layouts``: which column
  is which, epoch units) and both are printed in the report, so a wrong guess is visible;
* every row goes through :func:`core.market.frames.check_frame` with the import bounds
  (:class:`~core.market.frames.Plausible`: prices finite, > 0 and <= 1,000,000; volume finite, >= 0 and
  <= 1e12; high/low bracketing open and close; times in 1900-2199), bad rows are counted with their
  reason and row number so the user can fix the file;
* a timestamp repeated with different values is a conflict: none of its rows is imported (nothing says
  which is right) and both values are reported; an exact repeat is imported once. A bar already stored is
  never overwritten: if the file's differs, the report lists it as a conflict with the stored one;
* only the valid rows reach the database, in one transaction, so a file lands completely or not at all.

Exports write exactly :data:`BAR_COLUMNS` with UTC timestamps, atomically (a temp file renamed into
place), so an exported file always imports back to the same bars.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import os
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from core.domain.bars import timeframe_delta
from core.domain.symbols import InvalidSymbol, Symbol, normalize_symbol
from core.domain.timeframes import Timeframe
from core.market.file_layouts import TIME_OF_DAY, Layout, column_layout, csv_layout, read_times
from core.market.file_reading import MAX_TEXT_BYTES, BarFileError, read_text_file
from core.market.frames import BAR_COLUMNS, CONFLICT, Plausible, check_frame
from core.market.store import BarStore

REPORTED_REJECTS = 20  # rejected rows listed one by one in a report (all of them are counted)
REPORTED_CONFLICTS = 10  # conflicts listed with both values (all of them are counted)
_HEADER_LINES = 4  # lines read to recognise a layout (yfinance writes three header rows)

_CSV, _PARQUET = "csv", "parquet"
_SOURCES = {_CSV: "csv_import", _PARQUET: "parquet_import"}


class RejectedRow(NamedTuple):
    """One rejected row: its number among the file's data rows (1 = first row after the header) and why."""

    row: int
    reason: str


class Conflict(NamedTuple):
    """A data row whose timestamp has other values elsewhere: another row of the file, or the stored bar."""

    row: int
    timestamp: datetime
    values: str  # "o=10 h=11 l=9 c=10 v=100"
    other: str  # "row 3: o=... " or "stored: o=..."


@dataclass(frozen=True)
class ImportReport:
    """What one file import did.

    ``rows_read == imported + duplicates_skipped + rejected + stored_conflicts + other_symbol_rows``.
    """

    path: Path
    symbol: str
    timeframe: str
    rows_read: int
    imported: int  # newly stored
    duplicates_skipped: int  # exact repeats: of a stored bar, or of an earlier row of the file
    rejected: int  # invalid rows, and every row of a timestamp the file repeats with different values
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    rejected_rows: tuple[RejectedRow, ...] = ()  # the first REPORTED_REJECTS, in file order
    layout: str = ""  # "named columns", "yfinance (3 header rows)", ...
    mapping: dict[str, str] = field(default_factory=dict)  # file column -> bar field
    timestamps: str = ""  # how times were read: "ISO text, no zone: taken as UTC", "epoch milliseconds (UTC)"
    encoding: str = ""  # "UTF-8", "cp1252, gzip", "Parquet"
    notes: tuple[str, ...] = ()  # choices worth knowing ("Adj Close ignored (Close used)")
    stored_conflicts: int = 0  # rows whose stored bar differs (the stored bar kept)
    other_symbol_rows: int = 0  # rows a symbol column gives to another symbol (left out)
    conflicts: tuple[Conflict, ...] = ()  # the first REPORTED_CONFLICTS, in-file ones first

    def summary(self) -> str:
        """One line for a status bar or log, e.g. ``AAPL 1Min from bars.csv: 1,200 imported, ...``."""
        skipped = "duplicate" if self.duplicates_skipped == 1 else "duplicates"
        line = (
            f"{self.symbol} {self.timeframe} from {self.path.name}: {self.imported:,} imported, "
            f"{self.duplicates_skipped:,} {skipped} skipped, {self.rejected:,} rejected"
        )
        if self.rejected_reasons:
            line += " (" + ", ".join(f"{why}: {n:,}" for why, n in self.rejected_reasons.items()) + ")"
        if self.stored_conflicts:
            line += f", {self.stored_conflicts:,} differing from stored bars (stored kept)"
        if self.other_symbol_rows:
            line += f", {self.other_symbol_rows:,} rows of other symbols left out"
        return line

    def mapping_line(self) -> str:
        """``columns: Datetime -> timestamp, Open -> open, ...`` (what the import chose, to check at a glance)."""
        return "columns: " + ", ".join(f"{column} -> {f}" for column, f in self.mapping.items())

    def details(self) -> list[str]:
        """The report's lines after the summary: how the file was read, then rejected rows and conflicts."""
        lines = [
            f"read as: {self.layout}; {self.encoding}; times: {self.timestamps}",
            self.mapping_line(),
            *(f"note: {note}" for note in self.notes),
        ]
        lines += [f"row {r.row}: {r.reason}" for r in self.rejected_rows]
        if self.rejected > len(self.rejected_rows):
            lines.append(f"... {self.rejected - len(self.rejected_rows):,} more rejected rows")
        lines += [
            f"row {c.row} ({c.timestamp:%Y-%m-%d %H:%M:%S}Z): {c.values} conflicts with {c.other}"
            for c in self.conflicts
        ]
        return lines


def import_bars(
    store: BarStore,
    path: str | os.PathLike[str],
    symbol: str,
    timeframe: str = Timeframe.MIN_1,
    *,
    naive_is_utc: bool = True,
    mapping: Mapping[str, str] | None = None,
    epoch: str | None = None,
    plausible: Plausible | None = None,
    max_bytes: int = MAX_TEXT_BYTES,
) -> ImportReport:
    """Store the valid bars of a CSV (``.csv``, ``.csv.gz``) or Parquet (``.parquet``, ``.pq``) file.

    Columns are found by name, case-insensitively, with common aliases and layouts
    (``core.market.file_layouts``); ``mapping`` names the columns it cannot tell, bar field -> column
    (``{"timestamp": "When", "close": "Last"}``). Timestamps are bar open times: text is parsed as
    ISO-8601 where it can be, numbers are epoch times (unit from their size, or ``epoch``: ``"s"``,
    ``"ms"``), Parquet date/time columns are used as they are; zoned times are converted to UTC and naive
    ones taken as UTC unless ``naive_is_utc`` is false (then they are rejected).

    Rows must pass ``plausible`` (default :class:`Plausible`: prices finite, > 0 and <= 1,000,000; volume
    finite, >= 0 and <= 1e12). A file may expand to at most ``max_bytes`` of text (2 GiB).

    Raises ``ValueError`` (a :class:`BarFileError` or an ``InvalidSymbol``; nothing stored) for an unknown
    extension, timeframe or symbol, a column it cannot tell, a binary, broken or oversized file.
    """
    path = Path(path)
    kind = _kind(path)
    timeframe_delta(timeframe)  # MalformedBar (a ValueError) before any work for a bad timeframe
    symbol = _symbol(symbol)
    plausible = plausible or Plausible()

    if kind == _CSV:
        frame, layout, encoding = _read_csv(path, symbol, mapping, max_bytes)
    else:
        frame, layout = _read_parquet(path, mapping, max_bytes)
        encoding = "Parquet"
    rows_read = len(frame)
    frame, other_symbol_rows = _own_rows(frame, layout, symbol, path.name)
    times = read_times(
        frame["timestamp"], path.name, epoch=epoch, naive_is_utc=naive_is_utc, index=layout.index_timestamp
    )
    frame["timestamp"] = times.column
    check = check_frame(frame, naive_is_utc=naive_is_utc, plausible=plausible, reject_conflicts=True)
    in_file = _conflicts_in_file(frame, check.rejected)

    valid, stored_conflicts = _against_stored(store, symbol, timeframe, check.valid, check.rows)
    result = store.insert(symbol, timeframe, valid, source=_SOURCES[kind])
    rejected = check.rejected[["reason"]]
    listed = rejected.head(REPORTED_REJECTS)
    return ImportReport(
        path=path,
        symbol=symbol,
        timeframe=timeframe,
        rows_read=rows_read,
        imported=result.inserted,
        duplicates_skipped=check.repeats + result.duplicates,
        rejected=len(rejected),
        rejected_reasons={str(k): int(v) for k, v in rejected["reason"].value_counts().items()},
        rejected_rows=tuple(
            RejectedRow(int(i) + 1, str(why)) for i, why in zip(listed.index, listed["reason"], strict=True)
        ),
        layout=layout.name,
        mapping=dict(layout.mapping),
        timestamps=times.how,
        encoding=encoding,
        notes=layout.notes,
        stored_conflicts=len(stored_conflicts),
        other_symbol_rows=other_symbol_rows,
        conflicts=(in_file + stored_conflicts)[:REPORTED_CONFLICTS],
    )


def _symbol(text: str) -> Symbol:
    """The one symbol rule (``Symbol``): a full-width ``AAPL`` (U+FF21...), a NUL or 21 characters are refused, never
    normalised into a new ticker."""
    try:
        return Symbol(text)
    except InvalidSymbol as exc:
        raise InvalidSymbol(" ".join(str(exc).split())) from None


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
    frame = store.load_frame(_symbol(symbol), timeframe, start, end)
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
    raise BarFileError(f"cannot tell the format of {path.name!r}: use .csv, .csv.gz, .parquet or .pq")


def _read_csv(
    path: Path, symbol: str, explicit: Mapping[str, str] | None, max_bytes: int
) -> tuple[pd.DataFrame, Layout, str]:
    """The file's rows with its bar columns named as bar fields (text, checked later), its layout, encoding."""
    text_file = read_text_file(path, max_bytes=max_bytes)
    # One line end for both readers below (pandas also ends a line at a lone CR, Python's csv module not).
    text = text_file.text
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    encoding = text_file.encoding + (", gzip" if text_file.compressed else "")
    try:
        head = list(itertools.islice(csv.reader(io.StringIO(text)), _HEADER_LINES))
    except csv.Error as exc:
        raise BarFileError(f"{path.name} could not be read as CSV: {_one_line(exc)}") from None
    layout = csv_layout(head, path.name, symbol, explicit)
    wanted = [*layout.mapping, *layout.extra_columns()]
    # The time and symbol columns stay text (epoch numbers are told apart later, never read as nanoseconds);
    # numbers are parsed by pandas' C reader (a column with a bad cell arrives as text, and check_frame
    # rejects that row: converting every column from text instead cost 1.2 s per 500,000 rows).
    # names= and index_col=False keep a row with a trailing comma from shifting every column.
    text_columns = {label: "str" for label, f in layout.mapping.items() if f == "timestamp"}
    text_columns.update(dict.fromkeys(layout.extra_columns(), "str"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)  # mixed cells: check_frame's to say, per row
            frame = pd.read_csv(
                io.StringIO(text),
                header=None,
                names=list(layout.labels),
                skiprows=layout.header_rows,
                usecols=wanted,
                dtype=text_columns,
                index_col=False,
                skip_blank_lines=True,
            )
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        raise BarFileError(f"{path.name} could not be read as CSV: {_one_line(exc)}") from None
    return _named(frame, layout), layout, encoding


def _read_parquet(path: Path, explicit: Mapping[str, str] | None, max_bytes: int) -> tuple[pd.DataFrame, Layout]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises its own error types for a file that is not Parquet
        raise BarFileError(f"{path.name} is not a readable Parquet file: {_one_line(exc)}") from None
    meta = parquet.metadata
    expanded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if expanded > max_bytes or path.stat().st_size > max_bytes:
        raise BarFileError(
            f"{path.name} holds {expanded / 1024**3:.3g} GiB of data, over the {max_bytes / 1024**3:.3g} GiB"
            " limit for one import; split the file or raise the limit"
        )
    layout = column_layout(list(parquet.schema_arrow.names), path.name, explicit)
    wanted = [*layout.mapping, *layout.extra_columns()]
    try:
        table = parquet.read(columns=wanted)
        frame = table.to_pandas(ignore_metadata=True)
    except Exception as exc:  # a corrupt page, an unsupported type: pyarrow's own errors
        raise BarFileError(f"{path.name} could not be read: {_one_line(exc)}") from None
    return _named(frame, layout), layout


def _named(frame: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    frame = frame.rename(columns={**layout.mapping, **layout.extra_columns()}).reset_index(drop=True)
    if TIME_OF_DAY in frame.columns:  # "2025-01-02" + "14:30" (a blank in either leaves no time)
        date, time = (frame[c].astype("string").str.strip() for c in ("timestamp", TIME_OF_DAY))
        frame["timestamp"] = (date + " " + time).astype(object).where((date + time).notna(), None)
        frame = frame.drop(columns=TIME_OF_DAY)
    return frame


def _own_rows(frame: pd.DataFrame, layout: Layout, symbol: str, name: str) -> tuple[pd.DataFrame, int]:
    """Only the rows of ``symbol`` when a symbol column names each row's (blank cells count as ``symbol``).

    A file of another symbol only is refused, never stored under the one asked for."""
    if "symbol" not in frame.columns:
        return frame, 0
    named = frame["symbol"].fillna("").astype(str).map(normalize_symbol)
    mine = (named == symbol) | (named == "")
    if not mine.any() and len(frame):
        found = sorted(set(named) - {""})
        raise BarFileError(f"{name} holds bars of {', '.join(found[:10])}, not {symbol}: import it as one of those")
    kept = frame.loc[mine].drop(columns="symbol")
    return kept, int((~mine).sum())


def _values(row: pd.Series | Mapping[str, object]) -> str:
    return " ".join(f"{k[0]}={_number(row[k])}" for k in ("open", "high", "low", "close", "volume"))


def _number(value: object) -> str:
    try:
        return f"{float(str(value)):g}"
    except ValueError:
        return str(value)


def _conflicts_in_file(frame: pd.DataFrame, rejected: pd.DataFrame) -> tuple[Conflict, ...]:
    """Each conflicting row after the first of its timestamp, against that first row (file order)."""
    rows = rejected.index[rejected["reason"] == CONFLICT]
    if len(rows) == 0:
        return ()
    keys = [_utc(value) for value in frame.loc[rows, "timestamp"]]
    first: dict[pd.Timestamp, int] = {}
    out: list[Conflict] = []
    for row, key in zip(rows, keys, strict=True):
        if key not in first:
            first[key] = int(row)
            continue
        out.append(
            Conflict(
                int(row) + 1,
                key.to_pydatetime(),
                _values(frame.loc[row]),
                f"row {first[key] + 1}: {_values(frame.loc[first[key]])}",
            )
        )
        if len(out) >= REPORTED_CONFLICTS:
            break
    return tuple(out)


def _against_stored(
    store: BarStore, symbol: str, timeframe: str, valid: pd.DataFrame, rows: np.ndarray
) -> tuple[pd.DataFrame, tuple[Conflict, ...]]:
    """``valid`` without the bars stored with different values, and those as conflicts (the stored bar stays).

    Prices compare to 1e-9 relative (float64 text round trips), volume after the rounding the store applies."""
    if valid.empty:
        return valid, ()
    first, last = valid["timestamp"].iloc[0], valid["timestamp"].iloc[-1]
    end = last.to_pydatetime() + timedelta(microseconds=1)
    stored = store.load_frame(symbol, timeframe, first.to_pydatetime(), end)
    if stored.empty:
        return valid, ()
    both = valid.reset_index().merge(stored, on="timestamp", suffixes=("", "_stored"))
    same = np.ones(len(both), dtype=bool)
    for name in ("open", "high", "low", "close"):
        same &= np.isclose(both[name], both[f"{name}_stored"], rtol=1e-9, atol=0)
    same &= np.round(both["volume"].to_numpy()) == both["volume_stored"].to_numpy()
    differing = both.loc[~same]
    if differing.empty:
        return valid, ()
    conflicts = tuple(
        Conflict(
            int(rows[int(r["index"])]) + 1,
            r["timestamp"].to_pydatetime(),
            _values(r),
            "stored: " + _values({k: r[f"{k}_stored"] for k in ("open", "high", "low", "close", "volume")}),
        )
        for _, r in differing.iterrows()
    )
    keep = np.ones(len(valid), dtype=bool)
    keep[differing["index"].to_numpy()] = False
    return valid.loc[keep].reset_index(drop=True), conflicts


def _utc(value: object) -> pd.Timestamp:
    """A checked row's time as an aware UTC Timestamp (a naive one is UTC here: check_frame let it through)."""
    stamp = pd.Timestamp(str(value)) if not isinstance(value, (datetime, np.datetime64)) else pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


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
