"""Retention: old 1-minute bars are folded into coarser bars and deleted, on demand (seed 004).

Why: one symbol's 1-minute bars with extended hours add about 250,000 rows a year, and few
uses need minute detail from long ago, while charts and backtests over years read 5-minute or
daily bars. A :class:`RetentionPolicy` keeps recent minutes untouched and, for the older ones,
first builds the coarser bars from them (``core.market.aggregate``, stored with source
``aggregated``) and then deletes them. The rules that keep this safe:

* The cutoff is aligned down to a New York midnight, so a trading day is never split between
  kept and pruned minutes (its 5-minute and daily bars are built from the whole day).
* The work goes a New York calendar month at a time per symbol, so memory stays bounded with
  years of data; month edges are midnights too, so no coarse bar spans two chunks.
* Per chunk, building the coarse bars, deleting the minutes (and their computed features) and
  trimming the sync log are ONE transaction: a failure leaves the chunk exactly as it was, and
  chunks committed before it are complete. Running again continues where it stopped.
* A coarse bar already stored (a real Alpaca daily bar, say) is kept, never overwritten, the
  same rule as ``BarStore.insert``. The transaction holds the same per-series advisory locks
  as ``BarStore.insert``, so no writer of those series interleaves with it.
* The ``data_sync_log`` says which ranges were fetched, and the history service never fetches
  a covered range again. Pruned minutes must stop counting as fetched, or they could never
  come back: 1Min rows ending before the cutoff are deleted and rows straddling it now start
  at it. Coarser timeframes' rows are left alone.
* Computed features of a deleted minute go with it: the foreign key cascades, and where
  TimescaleDB dropped that key (migration 0001) they are deleted explicitly, in the same
  transaction, which also makes the report's count exact.

Caveat: the history service does not lock a fetch and its log entry together, so a fetch of a
symbol's *old* minutes running at the same moment as retention could log coverage for minutes
retention just deleted; run retention when no such fetch is running (the app's usual case).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

import numpy as np
import pandas as pd
import psycopg
from sqlalchemy import Engine

from core.db.advisory import advisory_key
from core.db.raw import raw_connection
from core.domain.symbols import normalize_symbol
from core.domain.timeframes import Timeframe
from core.market.aggregate import AGGREGATE_TIMEFRAMES, SESSIONS, aggregate
from core.market.calendar import NEW_YORK
from core.market.errors import MarketDataError
from core.market.pg_binary import pg_micros
from core.market.store import frame_of, merge_bars, read_columns, stored_open_times

log = logging.getLogger(__name__)

MINUTE = Timeframe.MIN_1
DOWNSAMPLE_TIMEFRAMES = tuple(tf for tf in AGGREGATE_TIMEFRAMES if tf != MINUTE)
AGGREGATED_SOURCE = "aggregated"

_FAR_PAST = datetime(1900, 1, 1, tzinfo=UTC)
_RANGE = "ticker_id = %s AND timeframe = %s AND timestamp >= %s AND timestamp < %s"
_FIRST = f"SELECT min(timestamp) FROM ohlcv_bars WHERE {_RANGE}"
_FEATURES = f"computed_features WHERE {_RANGE}"
_SCOPE = """
SELECT t.id, t.symbol FROM tickers t
 WHERE (%(everyone)s OR t.symbol = ANY(%(symbols)s))
   AND (EXISTS (SELECT 1 FROM ohlcv_bars b
                 WHERE b.ticker_id = t.id AND b.timeframe = %(minute)s AND b.timestamp < %(cutoff)s)
        OR EXISTS (SELECT 1 FROM data_sync_log s
                    WHERE s.ticker_id = t.id AND s.timeframe = %(minute)s AND s.range_start < %(cutoff)s))
 ORDER BY t.symbol"""
_LOG_DROP = (
    "DELETE FROM data_sync_log WHERE ticker_id = %(ticker)s AND timeframe = %(minute)s AND range_end <= %(edge)s"
)
_LOG_CUT = """
UPDATE data_sync_log
   SET range_start = %(edge)s,
       first_synced_timestamp = CASE WHEN first_synced_timestamp < %(edge)s THEN NULL ELSE first_synced_timestamp END
 WHERE ticker_id = %(ticker)s AND timeframe = %(minute)s AND range_start < %(edge)s AND range_end > %(edge)s"""
_LOG_COUNT = """
SELECT count(*) FILTER (WHERE range_end <= %(edge)s),
       count(*) FILTER (WHERE range_start < %(edge)s AND range_end > %(edge)s)
  FROM data_sync_log WHERE ticker_id = %(ticker)s AND timeframe = %(minute)s"""


@dataclass(frozen=True)
class RetentionPolicy:
    """What to keep of the 1-minute bars, and what to build from the rest before deleting it.

    ``keep_1min_days``: minutes younger than this many days are never touched (0 keeps only today's).
    ``downsample_to``: timeframes built from the old minutes before they go (any of
    :data:`DOWNSAMPLE_TIMEFRAMES`); empty means a plain prune. ``session``: ``"all"`` keeps the
    extended hours' information in the coarse bars, ``"regular"`` builds them from the regular
    session only (as ``core.market.aggregate``). ``symbols``: the symbols to treat, None for all."""

    keep_1min_days: int = 30
    downsample_to: tuple[str, ...] = (Timeframe.MIN_5, Timeframe.DAY_1)
    session: str = "all"
    symbols: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        days = self.keep_1min_days
        if isinstance(days, bool) or not isinstance(days, int):
            raise ValueError(f"keep_1min_days must be a whole number of days, not {days!r}")
        if days < 0:
            raise ValueError(f"keep_1min_days cannot be negative (got {days})")
        if isinstance(self.downsample_to, str):
            raise ValueError("downsample_to must be a sequence of timeframes, e.g. ('5Min', '1Day')")
        targets = tuple(self.downsample_to)
        for timeframe in targets:
            if timeframe not in DOWNSAMPLE_TIMEFRAMES:
                allowed = ", ".join(DOWNSAMPLE_TIMEFRAMES)
                raise ValueError(f"cannot downsample 1-minute bars to {timeframe!r} (allowed: {allowed})")
        if len(set(targets)) != len(targets):
            raise ValueError(f"downsample_to names a timeframe twice: {targets}")
        if self.session not in SESSIONS:
            raise ValueError(f"unknown session {self.session!r} (allowed: {', '.join(SESSIONS)})")
        object.__setattr__(self, "downsample_to", targets)
        if self.symbols is not None:
            if isinstance(self.symbols, str):
                raise ValueError("symbols must be a sequence of symbols (or None for all), not one string")
            symbols = tuple(dict.fromkeys(normalize_symbol(str(s)) for s in self.symbols))
            if not symbols or not all(symbols):
                raise ValueError("symbols must name at least one symbol, none of them empty (None means all)")
            object.__setattr__(self, "symbols", symbols)

    def cutoff(self, now: datetime) -> datetime:
        """The first instant kept, in UTC: ``now`` minus the kept days, down to that New York date's midnight."""
        if now.tzinfo is None:
            raise ValueError("now must carry a time zone (UTC is assumed nowhere)")
        day = (now - timedelta(days=self.keep_1min_days)).astimezone(NEW_YORK).date()
        return datetime.combine(day, time(0), NEW_YORK).astimezone(UTC)


@dataclass(frozen=True)
class SymbolRetention:
    """What retention did (or, in a dry run, would do) to one symbol."""

    symbol: str
    cutoff: datetime  # 1-minute bars opening before this instant (UTC, a New York midnight) are pruned
    minutes_deleted: int = 0
    bars_created: dict[str, int] = field(default_factory=dict)  # per timeframe; bars already stored not counted
    features_deleted: int = 0  # computed features of the deleted minutes
    sync_rows_removed: int = 0  # 1Min sync-log rows that ended before the cutoff
    sync_rows_trimmed: int = 0  # 1Min sync-log rows straddling the cutoff, now starting at it
    chunks: int = 0  # months of minutes handled, one transaction each


@dataclass(frozen=True)
class RetentionReport:
    policy: RetentionPolicy
    cutoff: datetime
    dry_run: bool
    symbols: tuple[SymbolRetention, ...] = ()

    @property
    def minutes_deleted(self) -> int:
        return sum(s.minutes_deleted for s in self.symbols)

    @property
    def bars_created(self) -> dict[str, int]:
        """Coarse bars created per timeframe, over all symbols (every policy timeframe listed)."""
        return {tf: sum(s.bars_created.get(tf, 0) for s in self.symbols) for tf in self.policy.downsample_to}

    @property
    def features_deleted(self) -> int:
        return sum(s.features_deleted for s in self.symbols)

    @property
    def sync_rows_removed(self) -> int:
        return sum(s.sync_rows_removed for s in self.symbols)

    @property
    def sync_rows_trimmed(self) -> int:
        return sum(s.sync_rows_trimmed for s in self.symbols)

    def summary(self) -> str:
        """One readable line for a log or a command line."""
        day = self.cutoff.astimezone(NEW_YORK).strftime("%Y-%m-%d")
        head = (
            f"Retention{' dry run' if self.dry_run else ''}: 1-minute bars before {day} 00:00 New York "
            f"(keeping {self.policy.keep_1min_days} days)"
        )
        changed = [s for s in self.symbols if s.minutes_deleted or s.sync_rows_removed or s.sync_rows_trimmed]
        if not changed:
            return f"{head}: nothing to do."
        names = [s.symbol for s in changed if s.minutes_deleted]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        verb = "would delete" if self.dry_run else "deleted"
        parts = [
            f"{verb} {self.minutes_deleted:,} 1-minute bars of {len(names)} symbol(s)" + (f" ({shown})" * bool(names))
        ]
        if self.policy.downsample_to:
            made = " + ".join(f"{n:,} {tf}" for tf, n in self.bars_created.items())
            parts.append(
                f"{'would create' if self.dry_run else 'created'} {made} bars from them "
                f"(source {AGGREGATED_SOURCE}, session {self.policy.session}; bars already stored kept)"
            )
        else:
            parts.append("no coarser bars built (plain prune)")
        parts.append(
            f"{self.features_deleted:,} computed feature(s) of those minutes {'would go' if self.dry_run else 'went'}"
            " with them"
        )
        parts.append(
            f"1Min sync log: {self.sync_rows_removed} row(s) {'would be ' if self.dry_run else ''}removed, "
            f"{self.sync_rows_trimmed} trimmed to start at the cutoff"
        )
        tail = " Nothing was written." if self.dry_run else ""
        return f"{head}: " + "; ".join(parts) + "." + tail


class RetentionError(MarketDataError):
    """Retention stopped at a chunk; ``report`` holds what was committed before it (that chunk was rolled back)."""

    def __init__(self, message: str, report: RetentionReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class _Tally:
    symbol: str
    minutes: int = 0
    created: dict[str, int] = field(default_factory=dict)
    features: int = 0
    removed_rows: set[uuid.UUID] = field(default_factory=set)
    trimmed_rows: set[uuid.UUID] = field(default_factory=set)
    removed_count: int = 0  # dry run: counted, not collected
    trimmed_count: int = 0
    chunks: int = 0
    chunk: tuple[datetime, datetime] | None = None  # the chunk in progress

    def freeze(self, cutoff: datetime) -> SymbolRetention:
        return SymbolRetention(
            symbol=self.symbol,
            cutoff=cutoff,
            minutes_deleted=self.minutes,
            bars_created=dict(self.created),
            features_deleted=self.features,
            sync_rows_removed=self.removed_count + len(self.removed_rows),
            sync_rows_trimmed=self.trimmed_count + len(self.trimmed_rows - self.removed_rows),
            chunks=self.chunks,
        )


def apply_retention(
    engine: Engine, policy: RetentionPolicy, *, now: datetime | None = None, dry_run: bool = False
) -> RetentionReport:
    """Apply ``policy`` to every symbol in its scope and report what was done.

    ``now`` (time-zone aware; default: the current time) fixes the cutoff. With ``dry_run`` nothing is
    written (every transaction is read-only) and the report says what would be done; the counts are those
    a real run would report. Raises :class:`RetentionError` if a chunk fails: that chunk is rolled back,
    earlier ones stay committed, and running again continues."""
    cutoff = policy.cutoff(now if now is not None else datetime.now(UTC))
    done: list[SymbolRetention] = []
    for ticker, symbol in _tickers_in_scope(engine, policy, cutoff):
        tally = _Tally(symbol, created=dict.fromkeys(policy.downsample_to, 0))
        try:
            _retain_symbol(engine, policy, ticker, cutoff, tally, dry_run)
        except Exception as exc:
            partial = RetentionReport(policy, cutoff, dry_run, (*done, tally.freeze(cutoff)))
            where = f"the month from {tally.chunk[0].astimezone(NEW_YORK):%Y-%m-%d}" if tally.chunk else "the sync log"
            raise RetentionError(
                f"Retention of {symbol} failed in {where}: {exc}. That step was rolled back, so nothing of it was "
                f"lost; {partial.minutes_deleted:,} 1-minute bars pruned before it stay pruned. Run it again to "
                "continue.",
                partial,
            ) from exc
        done.append(tally.freeze(cutoff))
    report = RetentionReport(policy, cutoff, dry_run, tuple(done))
    log.info("%s", report.summary())
    return report


def _tickers_in_scope(engine: Engine, policy: RetentionPolicy, cutoff: datetime) -> list[tuple[uuid.UUID, str]]:
    """Tickers with minutes or 1Min sync-log rows before the cutoff, by symbol."""
    params = {"everyone": policy.symbols is None, "symbols": list(policy.symbols or ()), "minute": MINUTE,
              "cutoff": cutoff}  # fmt: skip
    with raw_connection(engine, autocommit=True) as conn:
        return [(row[0], row[1]) for row in conn.execute(_SCOPE, params)]


def _retain_symbol(
    engine: Engine, policy: RetentionPolicy, ticker: uuid.UUID, cutoff: datetime, tally: _Tally, dry_run: bool
) -> None:
    start = _FAR_PAST
    while True:
        with raw_connection(engine, autocommit=True) as conn:
            row = conn.execute(_FIRST, (ticker, MINUTE, start, cutoff)).fetchone()
        if row is None or row[0] is None:
            break
        lo = _month_start(row[0])
        hi = min(_month_start(row[0], after=True), cutoff)
        tally.chunk = (lo, hi)
        _retain_chunk(engine, policy, ticker, lo, hi, tally, dry_run)
        tally.chunks += 1
        start = hi
    tally.chunk = None
    # The log may claim minutes before the cutoff that were never stored (a quiet stock) or are gone already.
    with raw_connection(engine) as conn:
        if dry_run:
            conn.execute("SET TRANSACTION READ ONLY")
            removed, trimmed = conn.execute(_LOG_COUNT, _log_params(ticker, cutoff)).fetchone() or (0, 0)
            tally.removed_count, tally.trimmed_count = int(removed), int(trimmed)
        else:
            _trim_sync_log(conn, ticker, cutoff, tally)
            conn.commit()


def _retain_chunk(
    engine: Engine, policy: RetentionPolicy, ticker: uuid.UUID, lo: datetime, hi: datetime, tally: _Tally,
    dry_run: bool,
) -> None:  # fmt: skip
    """One month of one symbol, ``[lo, hi)``: coarse bars in, minutes (and their features) out, one transaction."""
    with raw_connection(engine) as conn:
        if dry_run:
            conn.execute("SET TRANSACTION READ ONLY")
        else:  # BarStore.insert's locks, 1Min first: nothing writes these series until we commit
            for timeframe in (MINUTE, *policy.downsample_to):
                conn.execute(
                    "SELECT pg_advisory_xact_lock(%s)", (advisory_key(f"stratforge.bars.{ticker}.{timeframe}"),)
                )
        minutes = _load_minutes(conn, ticker, lo, hi)
        created: dict[str, int] = {}
        for timeframe in policy.downsample_to:
            fresh = _unstored(conn, ticker, timeframe, aggregate(minutes, timeframe, session=policy.session), lo, hi)
            created[timeframe] = len(fresh) if dry_run else _insert_bars(conn, ticker, timeframe, fresh)
        if dry_run:
            features = _count(conn, f"SELECT count(*) FROM {_FEATURES}", (ticker, MINUTE, lo, hi))
            deleted = len(minutes)
        else:
            features = conn.execute(f"DELETE FROM {_FEATURES}", (ticker, MINUTE, lo, hi)).rowcount
            deleted = _delete_minutes(conn, ticker, lo, hi)
            if deleted != len(minutes):
                raise RuntimeError(
                    f"the 1-minute bars changed while being pruned ({len(minutes)} read, {deleted} found)"
                )
            _trim_sync_log(conn, ticker, hi, tally)
            conn.commit()
    tally.minutes += deleted
    tally.features += features
    for timeframe, n in created.items():
        tally.created[timeframe] = tally.created.get(timeframe, 0) + n
    log.info("retention %s %s..%s: %d minutes, created %s", tally.symbol, lo.date(), hi.date(), deleted, created)


def _load_minutes(conn: psycopg.Connection, ticker: uuid.UUID, lo: datetime, hi: datetime) -> pd.DataFrame:
    """The stored minutes of ``[lo, hi)`` as a bar frame, read on ``conn`` (inside its transaction)."""
    return frame_of(read_columns(conn, ticker, MINUTE, lo, hi))


def _unstored(
    conn: psycopg.Connection, ticker: uuid.UUID, timeframe: str, bars: pd.DataFrame, lo: datetime, hi: datetime
) -> pd.DataFrame:
    """The bars of ``bars`` whose open time is not stored yet (stored bars are kept, as ``BarStore.insert`` does)."""
    if bars.empty:
        return bars
    stored = stored_open_times(conn, ticker, timeframe, lo, hi)
    if len(stored) == 0:
        return bars
    return bars.loc[~np.isin(pg_micros(bars["timestamp"]), stored)]


def _insert_bars(conn: psycopg.Connection, ticker: uuid.UUID, timeframe: str, bars: pd.DataFrame) -> int:
    """Insert aggregated bars inside the caller's transaction; returns how many were inserted."""
    return merge_bars(conn, bars, ticker, timeframe, AGGREGATED_SOURCE)


def _delete_minutes(conn: psycopg.Connection, ticker: uuid.UUID, lo: datetime, hi: datetime) -> int:
    return conn.execute(f"DELETE FROM ohlcv_bars WHERE {_RANGE}", (ticker, MINUTE, lo, hi)).rowcount


def _trim_sync_log(conn: psycopg.Connection, ticker: uuid.UUID, edge: datetime, tally: _Tally) -> None:
    """Make the 1Min log claim nothing before ``edge``: rows ending by then go, rows straddling it start at it.

    A trimmed row's first bar is forgotten when it lay before ``edge``; its counts describe the fetch as it was."""
    params = _log_params(ticker, edge)
    tally.removed_rows.update(_ids(conn.execute(_LOG_DROP + " RETURNING id", params)))
    tally.trimmed_rows.update(_ids(conn.execute(_LOG_CUT + " RETURNING id", params)))


def _log_params(ticker: uuid.UUID, edge: datetime) -> dict[str, object]:
    return {"ticker": ticker, "minute": MINUTE, "edge": edge}


def _ids(rows: Iterable[tuple[uuid.UUID, ...]]) -> list[uuid.UUID]:
    return [row[0] for row in rows]


def _count(conn: psycopg.Connection, query: str, params: tuple[object, ...]) -> int:
    row = conn.execute(query, params).fetchone()
    return int(row[0]) if row else 0


def _month_start(instant: datetime, *, after: bool = False) -> datetime:
    """Midnight New York time of the first day of ``instant``'s New York month (or of the next month), in UTC."""
    local = instant.astimezone(NEW_YORK)
    year, month = local.year, local.month
    if after:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return datetime(year, month, 1, tzinfo=NEW_YORK).astimezone(UTC)
