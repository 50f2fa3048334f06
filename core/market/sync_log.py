"""``data_sync_log``: which ranges of a series have been fetched, and how each fetch went (seed 003).

Stored bars alone cannot say whether a range is complete: a quiet stock has
minutes without trades, hence without bars. A successful fetch of a range is the
proof that everything the provider has for it is stored, so the history service
asks the log, not the bars, what is still missing. Failed fetches are logged too,
with the error, and never count as coverage.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select

from core.db.models import DataSyncLog
from core.market.calendar import Window
from core.market.gaps import merge

COVERING = ("success", "partial")


@dataclass(frozen=True)
class SyncRecord:
    """One fetch. ``partial``: the provider answered in full but some bars were malformed and dropped;
    asking again would get the same answer, so it counts as covered. ``failed`` never does."""

    ticker_id: uuid.UUID
    timeframe: str
    window: Window
    status: str  # success, partial or failed
    bars_fetched: int = 0
    total_bars: int = 0
    first_bar: datetime | None = None
    last_bar: datetime | None = None
    error: str | None = None


class SyncLog:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def covered(self, ticker_id: uuid.UUID, timeframe: str, start: datetime, end: datetime) -> list[Window]:
        """Successfully fetched spans overlapping ``[start, end)``, merged."""
        query = select(DataSyncLog.range_start, DataSyncLog.range_end).where(
            DataSyncLog.ticker_id == ticker_id,
            DataSyncLog.timeframe == timeframe,
            DataSyncLog.status.in_(COVERING),
            DataSyncLog.range_start < end,
            DataSyncLog.range_end > start,
        )
        with self._engine.connect() as conn:
            return merge(Window(a, b) for a, b in conn.execute(query))

    def record(self, entry: SyncRecord) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(DataSyncLog).values(
                    ticker_id=entry.ticker_id,
                    timeframe=entry.timeframe,
                    range_start=entry.window.start,
                    range_end=entry.window.end,
                    status=entry.status,
                    bars_fetched=entry.bars_fetched,
                    total_bars=entry.total_bars,
                    first_synced_timestamp=entry.first_bar,
                    last_synced_timestamp=entry.last_bar,
                    error_message=entry.error,
                )
            )
