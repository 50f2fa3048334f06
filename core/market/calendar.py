"""When bars can exist: the NYSE calendar (``exchange_calendars``), as windows of UTC time.

A range a trader asks for is mostly nights, weekends and holidays, where no
exchange prints bars; treating those hours as missing data would send useless
requests and never count a range as complete. The calendar turns a range into
*trading windows*: for intraday bars each session's extended-hours span (04:00
to 20:00 New York time, when Alpaca's feeds carry bars), and for daily bars each
session's date (its bar opens at New York midnight, as Alpaca stamps it).
``exchange_calendars`` knows holidays, early closes and daylight-saving shifts;
calendars are built once per process, which takes a fraction of a second.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from core.domain.bars import timeframe_delta
from core.domain.timeframes import Timeframe

if TYPE_CHECKING:
    import exchange_calendars  # imported when the first calendar is built: a second of start-up otherwise

NEW_YORK = ZoneInfo("America/New_York")
EXTENDED_OPEN = time(4, 0)
EXTENDED_CLOSE = time(20, 0)
CALENDAR_START = "2000-01-03"  # the first session the calendar is asked to know


@dataclass(frozen=True)
class Window:
    """A half-open span of UTC time, ``start <= t < end``."""

    start: datetime
    end: datetime


@functools.cache
def _xnys(last_year: int) -> exchange_calendars.ExchangeCalendar:
    import exchange_calendars

    with warnings.catch_warnings():
        # exchange_calendars 4.13 reads Series.values of zoned times, which pandas 3.1 deprecates (upstream's code).
        warnings.filterwarnings("ignore", message=r".*\.values returning an ndarray", category=DeprecationWarning)
        return exchange_calendars.get_calendar("XNYS", start=CALENDAR_START, end=f"{last_year}-12-31")


@functools.cache
def _session_arrays(last_year: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    schedule = _xnys(last_year).schedule
    day = schedule.index.values.astype("datetime64[D]").astype(np.int64)
    open_ns = pd.DatetimeIndex(schedule["open"]).tz_convert("UTC").as_unit("ns").asi8
    close_ns = pd.DatetimeIndex(schedule["close"]).tz_convert("UTC").as_unit("ns").asi8
    for array in (day, open_ns, close_ns):
        array.flags.writeable = False
    return day, open_ns, close_ns


class TradingCalendar:
    """The NYSE calendar (thread-safe: read-only after construction)."""

    def __init__(self, last_year: int | None = None) -> None:
        self._last_year = last_year or datetime.now(UTC).year + 1
        self._cal = _xnys(self._last_year)

    def trading_day_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every session as arrays, for vectorised work: (date as days since 1970-01-01, regular open, regular
        close as UTC nanoseconds). Read-only and built once per process."""
        return _session_arrays(self._last_year)

    def trading_days(self, start: datetime, end: datetime) -> list[date]:
        """Trading dates whose New York day overlaps ``[start, end)``."""
        first = start.astimezone(NEW_YORK).date()
        last = (end - timedelta(microseconds=1)).astimezone(NEW_YORK).date()
        lo = max(pd.Timestamp(first), self._cal.first_session)
        hi = min(pd.Timestamp(last), self._cal.last_session)
        if lo > hi:
            return []
        return [s.date() for s in self._cal.sessions_in_range(lo, hi)]

    def regular_hours(self, session: date) -> Window:
        """The session's regular open and close (early closes included)."""
        open_, close = self._cal.session_open_close(pd.Timestamp(session))
        return Window(open_.to_pydatetime(), close.to_pydatetime())

    def trading_windows(self, start: datetime, end: datetime, timeframe: str) -> list[Window]:
        """The parts of ``[start, end)`` in which bars of ``timeframe`` can open, one per session, in order."""
        timeframe_delta(timeframe)
        windows = []
        for session in self.trading_days(start, end):
            if timeframe == Timeframe.DAY_1:
                w_start = datetime.combine(session, time(0), NEW_YORK)
                w_end = w_start + timedelta(minutes=1)  # a daily bar opens at exactly that instant
            else:
                w_start = datetime.combine(session, EXTENDED_OPEN, NEW_YORK)
                w_end = datetime.combine(session, EXTENDED_CLOSE, NEW_YORK)
            lo, hi = max(w_start.astimezone(UTC), start), min(w_end.astimezone(UTC), end)
            if lo < hi:
                windows.append(Window(lo, hi))
        return windows

    def bar_capacity(self, windows: list[Window], timeframe: str) -> int:
        """The most bars ``windows`` can hold (one per timeframe step): for sizing requests."""
        step = timeframe_delta(timeframe)
        return sum(max(1, -(-(w.end - w.start) // step)) for w in windows)
