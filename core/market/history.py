"""History with incremental fetching: ask for a range, fetch only what was never fetched.

For a symbol, timeframe and range: the calendar gives the trading windows (no
nights, weekends or holidays), the sync log gives what earlier fetches already
covered, and only the rest is requested from the provider, one request per run
of missing sessions. Fetched bars are checked (malformed ones are counted and
dropped, never stored), stored, and the fetch is logged; the whole range is then
read back from the database. A range reaching into the present is covered only
up to the last finished bar, so asking again later fetches the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Protocol

import pandas as pd

from core.domain.bars import timeframe_delta
from core.domain.clock import utc_now
from core.domain.symbols import normalize_symbol
from core.domain.timeframes import Timeframe
from core.market.calendar import NEW_YORK, TradingCalendar, Window
from core.market.errors import MarketDataError
from core.market.frames import check_frame
from core.market.gaps import missing_ranges
from core.market.store import BarStore
from core.market.sync_log import SyncLog, SyncRecord

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BarSource(Protocol):
    name: str

    def fetch(self, symbol: str, timeframe: str, start: datetime, end: datetime, expected_bars: int) -> pd.DataFrame:
        """Raw bars with ``start <= open time < end`` (columns by name, checked by the caller)."""
        ...


@dataclass(frozen=True)
class HistoryResult:
    frame: pd.DataFrame  # the whole requested range, from the database
    fetched_ranges: tuple[Window, ...]  # what had to be requested
    bars_fetched: int = 0
    bars_stored: int = 0
    rejected: dict[str, int] = field(default_factory=dict)  # malformed bars dropped, by reason



def _last_final_open(now: datetime, timeframe: str) -> datetime:
    """Bars opening before this instant are over (final); the one in progress is not fetched yet."""
    if timeframe == Timeframe.DAY_1:
        return datetime.combine(now.astimezone(NEW_YORK).date(), time(0), NEW_YORK).astimezone(UTC)
    step = timeframe_delta(timeframe)
    return now - (now - EPOCH) % step  # the open of the bar in progress: earlier bars are final


class HistoryService:
    def __init__(
        self,
        store: BarStore,
        source: BarSource,
        sync_log: SyncLog,
        calendar: TradingCalendar,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._source = source
        self._log = sync_log
        self._calendar = calendar
        self._now = clock

    def bars(self, symbol: str, timeframe: str, start: datetime, end: datetime) -> HistoryResult:
        """Every stored bar of ``[start, end)``, after fetching the parts never fetched.

        Raises MarketDataError when a fetch fails; ranges fetched before the failure stay stored and logged."""
        timeframe_delta(timeframe)
        if start.tzinfo is None or end.tzinfo is None:
            raise MarketDataError("History ranges need time zones (UTC is assumed nowhere).")
        if end <= start:
            raise MarketDataError(f"The range ends ({end.isoformat()}) before it starts ({start.isoformat()}).")
        symbol = normalize_symbol(symbol)
        ticker = self._store.ticker_id(symbol)
        settled_end = min(end, _last_final_open(self._now(), timeframe))
        trading = self._calendar.trading_windows(start, settled_end, timeframe) if settled_end > start else []
        requests = missing_ranges(trading, self._log.covered(ticker, timeframe, start, settled_end))
        fetched = stored = 0
        rejected: dict[str, int] = {}
        for window in requests:
            inside = self._calendar.trading_windows(window.start, window.end, timeframe)
            capacity = self._calendar.bar_capacity(inside, timeframe)
            try:
                raw = self._source.fetch(symbol, timeframe, window.start, window.end, capacity)
            except MarketDataError as exc:
                self._log.record(SyncRecord(ticker, timeframe, window, "failed", error=str(exc)))
                raise
            check = check_frame(raw)
            for reason, count in check.reasons.items():
                rejected[reason] = rejected.get(reason, 0) + count
            if not check.rejected.empty:
                log.warning(
                    "%s %s: dropped %d malformed bars %s", symbol, timeframe, len(check.rejected), check.reasons
                )
            result = self._store.insert(symbol, timeframe, check.valid, source=self._source.name)
            fetched += len(raw)
            stored += result.inserted
            stamps = check.valid["timestamp"]
            self._log.record(
                SyncRecord(
                    ticker, timeframe, window, "success" if check.rejected.empty else "partial",
                    bars_fetched=len(raw), total_bars=len(check.valid),
                    first_bar=stamps.iloc[0].to_pydatetime() if len(stamps) else None,
                    last_bar=stamps.iloc[-1].to_pydatetime() if len(stamps) else None,
                    error=None if check.rejected.empty else f"malformed bars dropped: {check.reasons}",
                )
            )  # fmt: skip
        frame = self._store.load_frame(symbol, timeframe, start, end)
        return HistoryResult(frame, tuple(requests), fetched, stored, rejected)
