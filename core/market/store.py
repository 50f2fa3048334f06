"""Bars in PostgreSQL: bulk insert with binary COPY, bulk load straight into numpy.

Neither direction handles bars one by one in Python (see ``core.market.pg_binary``).
Inserts go through a per-connection staging table; a bar already stored (same
ticker, timeframe and open time) is kept, never overwritten, and counted as a
duplicate. Large loads are split into time slices read on parallel connections:
the server's work per bar is the bottleneck, and it runs on every core.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

import numpy as np
import pandas as pd
import psycopg
from sqlalchemy import Engine

from core.db.advisory import advisory_key
from core.db.raw import raw_connection
from core.domain.bars import BarArrays, timeframe_delta
from core.domain.symbols import normalize_symbol
from core.market.frames import BAR_COLUMNS, PRICE_COLUMNS, empty_frame
from core.market.pg_binary import (
    BAR_COPY_COLUMNS,
    NO_COUNT,
    PG_EPOCH_US,
    STAGE_COLUMNS_SQL,
    datetime_from_pg_micros,
    pack_bar_rows,
    pack_stage_rows,
    pg_micros,
    unpack_array,
)

_STAGE = f"CREATE TEMP TABLE IF NOT EXISTS sf_bar_stage ({STAGE_COLUMNS_SQL}) ON COMMIT DELETE ROWS"
_MERGE = f"""
INSERT INTO ohlcv_bars ({BAR_COPY_COLUMNS})
SELECT %(ticker)s, %(timeframe)s, ts, o, h, l, c, v, nullif(tc, -1), CASE WHEN vw = 'NaN' THEN NULL ELSE vw END,
       %(source)s
  FROM sf_bar_stage
ON CONFLICT DO NOTHING"""
_RANGE = "ticker_id = %s AND timeframe = %s AND timestamp >= %s AND timestamp < %s"
_STORED = f"SELECT array_send(array_agg(timestamp)) FROM ohlcv_bars WHERE {_RANGE}"
_BOUNDS = f"SELECT min(timestamp), max(timestamp) FROM ohlcv_bars WHERE {_RANGE}"
# Columns of a load; trade count and VWAP only for frames, with sentinels for NULL (arrays stay NULL-free).
_ARRAY_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
_FRAME_COLUMNS = (*_ARRAY_COLUMNS, "coalesce(trade_count, -1)", "coalesce(vwap, 'NaN')")
_FAR_PAST = datetime.fromisoformat("1900-01-01T00:00:00+00:00")
_FAR_FUTURE = datetime.fromisoformat("2200-01-01T00:00:00+00:00")
SLICE_BARS = 250_000  # a load spanning more bars than this is read in parallel slices
MAX_SLICES = 4


def read_columns(
    conn: psycopg.Connection, ticker: uuid.UUID, timeframe: str, start: datetime, end: datetime,
    columns: tuple[str, ...] = _FRAME_COLUMNS,
) -> list[np.ndarray]:  # fmt: skip
    """One query on ``conn`` (inside its transaction, if any): the bars of ``[start, end)``, a column each."""
    query = "SELECT {} FROM (SELECT * FROM ohlcv_bars WHERE {} ORDER BY timestamp) bars".format(
        ", ".join(f"array_send(array_agg({c}))" for c in columns), _RANGE
    )
    with conn.cursor(binary=True) as cur:
        row = cur.execute(query, (ticker, timeframe, start, end)).fetchone()
    return [unpack_array(value) for value in (row or [None] * len(columns))]


def frame_of(columns: list[np.ndarray]) -> pd.DataFrame:
    """A bar frame from the ``_FRAME_COLUMNS`` arrays (trade count -1 and VWAP NaN stand for none)."""
    t, o, h, lo, c, v, count, vwap = columns
    if len(t) == 0:
        return empty_frame()
    return pd.DataFrame(
        {
            "timestamp": pd.to_datetime(t + PG_EPOCH_US, unit="us", utc=True).as_unit("ns"),
            **{name: col.astype(np.float64) for name, col in zip(PRICE_COLUMNS, (o, h, lo, c), strict=True)},
            "volume": v.astype(np.float64),
            "trade_count": pd.arrays.IntegerArray(count.astype(np.int64), count == NO_COUNT),
            "vwap": vwap.astype(np.float64),
        },
        columns=list(BAR_COLUMNS),
    )


def stored_open_times(
    conn: psycopg.Connection, ticker: uuid.UUID, timeframe: str, start: datetime, end: datetime
) -> np.ndarray:
    """Open times stored in ``[start, end)``, as PostgreSQL microseconds (``pg_binary.pg_micros``)."""
    with conn.cursor(binary=True) as cur:
        row = cur.execute(_STORED, (ticker, timeframe, start, end)).fetchone()
    return unpack_array(row[0] if row else None)


def merge_bars(conn: psycopg.Connection, frame: pd.DataFrame, ticker: uuid.UUID, timeframe: str, source: str) -> int:
    """Insert what of ``frame`` is not stored yet, in the caller's transaction, through a staging table and
    ``ON CONFLICT DO NOTHING``; returns how many rows were inserted."""
    if len(frame) == 0:
        return 0
    conn.execute(_STAGE)
    conn.execute("TRUNCATE sf_bar_stage")  # an earlier merge of this transaction may have staged rows
    with conn.cursor() as cur:
        with cur.copy("COPY sf_bar_stage FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(pack_stage_rows(frame))
        cur.execute(_MERGE, {"ticker": ticker, "timeframe": timeframe, "source": source})
        return cur.rowcount


@dataclass(frozen=True)
class InsertResult:
    received: int
    inserted: int

    @property
    def duplicates(self) -> int:
        """Bars that were already stored (kept as they were)."""
        return self.received - self.inserted


class BarStore:
    """Reads and writes ``ohlcv_bars``; thread-safe (each call borrows its own pooled connections)."""

    def __init__(self, engine: Engine, *, slice_bars: int = SLICE_BARS) -> None:
        self._engine = engine
        self._slice_bars = slice_bars
        self._tickers: dict[str, uuid.UUID] = {}
        self._lock = threading.Lock()
        self._slices = ThreadPoolExecutor(MAX_SLICES, thread_name_prefix="bar-load")

    def close(self) -> None:
        self._slices.shutdown(wait=False)

    def ticker_id(self, symbol: str) -> uuid.UUID:
        """The ticker row of ``symbol``, created on first use."""
        known = self.known_ticker_id(symbol)
        if known is not None:
            return known
        with raw_connection(self._engine, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO tickers (id, symbol) VALUES (gen_random_uuid(), %s) ON CONFLICT (symbol) DO NOTHING",
                (normalize_symbol(symbol),),
            )
        created = self.known_ticker_id(symbol)
        assert created is not None
        return created

    def known_ticker_id(self, symbol: str) -> uuid.UUID | None:
        """The ticker row of ``symbol`` if it exists (reads never create one)."""
        symbol = normalize_symbol(symbol)
        with self._lock:
            known = self._tickers.get(symbol)
        if known is not None:
            return known
        with raw_connection(self._engine, autocommit=True) as conn:
            row = conn.execute("SELECT id FROM tickers WHERE symbol = %s", (symbol,)).fetchone()
        if row is None:
            return None
        with self._lock:
            self._tickers[symbol] = row[0]
        return row[0]

    def insert(self, symbol: str, timeframe: str, frame: pd.DataFrame, *, source: str) -> InsertResult:
        """Store a *checked* bar frame (see ``core.market.frames.check_frame``) in one transaction.

        Bars already stored are skipped and counted as duplicates. Writers of one series take turns
        (an advisory lock per ticker and timeframe), so the bars missing from the store can be found
        first and then COPied straight into the table: measured three times as fast as staging them and
        ``INSERT ... ON CONFLICT DO NOTHING``, which remains the fallback should a row appear anyway."""
        timeframe_delta(timeframe)
        if len(frame) == 0:
            return InsertResult(0, 0)
        ticker = self.ticker_id(symbol)
        stamps = pg_micros(frame["timestamp"])
        _, first = np.unique(stamps, return_index=True)  # one row per open time: the first given
        keep = np.zeros(len(frame), dtype=bool)
        keep[first] = True
        lo, hi = datetime_from_pg_micros(int(stamps.min())), datetime_from_pg_micros(int(stamps.max()))
        with raw_connection(self._engine) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key(f"stratforge.bars.{ticker}.{timeframe}"),))
            stored = stored_open_times(conn, ticker, timeframe, lo, hi + timedelta(microseconds=1))
            if len(stored):
                keep &= ~np.isin(stamps, stored)
            fresh = frame if keep.all() else frame.loc[keep]
            inserted = 0
            if len(fresh):
                try:
                    copy_sql = f"COPY ohlcv_bars ({BAR_COPY_COLUMNS}) FROM STDIN (FORMAT BINARY)"
                    # A savepoint: after a unique violation the fallback runs in the same transaction.
                    with conn.transaction(), conn.cursor() as cur, cur.copy(copy_sql) as copy:
                        copy.write(pack_bar_rows(fresh, ticker, timeframe, source))
                    inserted = len(fresh)
                except psycopg.errors.UniqueViolation:  # a writer that skipped the series lock got there first
                    inserted = merge_bars(conn, fresh, ticker, timeframe, source)
            conn.commit()
        return InsertResult(len(frame), inserted)

    def load(
        self, symbol: str, timeframe: str, start: datetime | None = None, end: datetime | None = None
    ) -> BarArrays:
        """Bars with ``start <= open time < end`` as float64 columns (time in epoch seconds)."""
        t, *columns = self._load_columns(symbol, timeframe, start, end, _ARRAY_COLUMNS)
        return BarArrays((t + PG_EPOCH_US) / 1e6, *(c.astype(np.float64) for c in columns))

    def load_frame(
        self, symbol: str, timeframe: str, start: datetime | None = None, end: datetime | None = None
    ) -> pd.DataFrame:
        """The same range as a bar frame (all columns, trade count and VWAP included)."""
        return frame_of(self._load_columns(symbol, timeframe, start, end, _FRAME_COLUMNS))

    def count(self, symbol: str, timeframe: str, start: datetime | None = None, end: datetime | None = None) -> int:
        ticker = self.known_ticker_id(symbol)
        if ticker is None:
            return 0
        with raw_connection(self._engine, autocommit=True) as conn:
            row = conn.execute(
                f"SELECT count(*) FROM ohlcv_bars WHERE {_RANGE}",
                (ticker, timeframe, start or _FAR_PAST, end or _FAR_FUTURE),
            ).fetchone()
        return int(row[0]) if row else 0

    def last_open(self, symbol: str, timeframe: str) -> datetime | None:
        """Open time of the newest stored bar of the series (None when there is none)."""
        ticker = self.known_ticker_id(symbol)
        if ticker is None:
            return None
        with raw_connection(self._engine, autocommit=True) as conn:
            row = conn.execute(
                "SELECT max(timestamp) FROM ohlcv_bars WHERE ticker_id = %s AND timeframe = %s", (ticker, timeframe)
            ).fetchone()
        return row[0] if row else None

    def forget(self, symbol: str) -> int:
        """Delete a symbol: its bars (bars carry no foreign key, migration 0004), then its ticker row,
        whose foreign keys take the sync log and computed features with it. Returns the bars deleted."""
        ticker = self.known_ticker_id(symbol)
        if ticker is None:
            return 0
        with raw_connection(self._engine) as conn:
            deleted = conn.execute("DELETE FROM ohlcv_bars WHERE ticker_id = %s", (ticker,)).rowcount
            conn.execute("DELETE FROM tickers WHERE id = %s", (ticker,))
            conn.commit()
        with self._lock:
            self._tickers.pop(normalize_symbol(symbol), None)
        return deleted

    def _load_columns(
        self, symbol: str, timeframe: str, start: datetime | None, end: datetime | None, columns: tuple[str, ...]
    ) -> list[np.ndarray]:
        ticker = self.known_ticker_id(symbol)
        if ticker is None:
            return [np.empty(0, dtype=np.int64) for _ in columns]
        start, end = start or _FAR_PAST, end or _FAR_FUTURE
        with raw_connection(self._engine, autocommit=True) as conn:
            first, last = conn.execute(_BOUNDS, (ticker, timeframe, start, end)).fetchone() or (None, None)
        if first is None:
            return [np.empty(0, dtype=np.int64) for _ in columns]
        # At most one bar per timeframe step: the span bounds the count, which decides the slicing.
        step = timeframe_delta(timeframe)
        slices = int(min(MAX_SLICES, max(1, (last - first) / step // self._slice_bars)))
        edges = [first + (last - first) * i / slices for i in range(slices)] + [last + step]
        edges[0] = first

        def read(bounds: tuple[datetime, datetime]) -> list[np.ndarray]:
            with raw_connection(self._engine, autocommit=True) as conn:
                return read_columns(conn, ticker, timeframe, *bounds, columns)

        bounds = list(pairwise(edges))
        parts = [read(bounds[0])] if slices == 1 else list(self._slices.map(read, bounds))
        return [np.concatenate([part[i] for part in parts]) for i in range(len(columns))]
