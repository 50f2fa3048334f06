"""When a virtual DAY order stops working: at the close of the first regular NYSE session that closes after it
was placed (early closes included). An order placed after the close, or on a holiday, works through the next
session, as at Alpaca. GTC orders never expire here."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta

from core.market.calendar import TradingCalendar


class DayCloses:
    """NYSE closes (the exchange calendar), for a router on a real account."""

    def __init__(self, calendar: TradingCalendar | None = None) -> None:
        self._calendar = calendar or TradingCalendar()

    def close_after(self, placed_at: datetime) -> datetime | None:
        """The close that ends a DAY order placed at ``placed_at`` (None beyond the calendar's range)."""
        for day in self._days_from(placed_at.date()):
            close = self._close(day)
            if close > placed_at:
                return close
        return None

    def _days_from(self, first: date) -> list[date]:
        return _sessions(self._calendar, first - timedelta(days=1))

    def _close(self, day: date) -> datetime:
        return _close_of(self._calendar, day)


@functools.lru_cache(maxsize=64)
def _sessions(calendar: TradingCalendar, first: date) -> list[date]:
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    return calendar.trading_days(start, start + timedelta(days=10))


@functools.lru_cache(maxsize=256)
def _close_of(calendar: TradingCalendar, day: date) -> datetime:
    return calendar.regular_hours(day).end


class UtcMidnightCloses:
    """For the simulated market, which trades around the clock: a DAY order works until the next UTC midnight (the
    simulated broker's own rule, so a routed order and a simulated one expire alike)."""

    def close_after(self, placed_at: datetime) -> datetime | None:
        day = placed_at.astimezone(UTC).date() + timedelta(days=1)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
