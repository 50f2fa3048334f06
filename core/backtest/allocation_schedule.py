"""When an allocation rebalances: NYSE sessions, periods and the moment of day.

A rebalance is due in a session once its moment has passed and no rebalance has happened yet in the
session's *period* (the session itself for daily, its ISO week for weekly, its month for monthly).
With complete data that is the first session of each period (the Tuesday after Memorial Day, the
day after a New Year holiday), because the periods and sessions come from the exchange calendar,
not from weekday arithmetic. Stating it as "not yet in this period" rather than "on the first
session" also makes a live session that was not running on that day catch up on the next one,
instead of waiting a whole week or month.

The moment is ``at`` in New York, clamped into the session's regular hours, at the latest one minute
before the close: market orders are only accepted in regular hours, and on an early close (13:00) a
15:55 rebalance happens in the session's last minute instead of at the next morning's open.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from core.market.calendar import NEW_YORK, TradingCalendar

EPOCH_DAY = date(1970, 1, 1)
LAST_MINUTE = timedelta(minutes=1)  # a rebalance decided later than this before the close fills next session


class RebalanceSchedule:
    """The calendar side of an allocation; pure and cheap per call (the backtester asks on every bar)."""

    def __init__(self, frequency: str, at: time, calendar: TradingCalendar | None = None) -> None:
        if frequency not in ("daily", "weekly", "monthly"):
            raise ValueError(f"unknown rebalance frequency {frequency!r}")
        self.frequency = frequency
        self.at = at
        self._days, self._open_ns, self._close_ns = (calendar or TradingCalendar()).trading_day_arrays()
        self._moments: dict[date, datetime | None] = {}

    def period(self, session: date) -> Hashable:
        """The span a rebalance covers: one per period."""
        if self.frequency == "daily":
            return session
        if self.frequency == "weekly":
            return tuple(session.isocalendar())[:2]
        return session.year, session.month

    def _index(self, day: date) -> int | None:
        n = (day - EPOCH_DAY).days
        i = int(np.searchsorted(self._days, n))
        return i if i < len(self._days) and self._days[i] == n else None

    def is_session(self, day: date) -> bool:
        return self._index(day) is not None

    def moment(self, session: date) -> datetime | None:
        """The rebalance moment of ``session`` in UTC (None if it is not a trading session)."""
        if session not in self._moments:
            i = self._index(session)
            if i is None:
                self._moments[session] = None
            else:
                wanted = datetime.combine(session, self.at, NEW_YORK).astimezone(UTC)
                open_ = datetime.fromtimestamp(int(self._open_ns[i]) / 1e9, UTC)
                close = datetime.fromtimestamp(int(self._close_ns[i]) / 1e9, UTC) - LAST_MINUTE
                self._moments[session] = min(max(wanted, open_), close)
        return self._moments[session]

    def due(self, session: date, now: datetime, last: date | None) -> bool:
        """Whether to rebalance at ``now`` (a bar's close) in ``session``, the last rebalance having been in
        session ``last`` (None: never, so the first moment invests the cash)."""
        if last is not None and self.period(session) == self.period(last):
            return False
        moment = self.moment(session)
        return moment is not None and now >= moment

    def first_sessions(self, start: date, end: date) -> list[date]:
        """The calendar's first session of every period that starts within ``[start, end]``: the days complete
        data rebalances on (after the first moment, which always invests)."""
        lo = int(np.searchsorted(self._days, (start - EPOCH_DAY).days))
        hi = int(np.searchsorted(self._days, (end - EPOCH_DAY).days, side="right"))
        out = []
        for i in range(max(lo, 1), hi):
            day, before = (EPOCH_DAY + timedelta(days=int(self._days[j])) for j in (i, i - 1))
            if self.period(day) != self.period(before):
                out.append(day)
        return out


def session_dates(times: np.ndarray) -> list[date]:
    """The New York date of each epoch-second bar open time: the session a bar belongs to."""
    out: list[date] = []
    cache: dict[int, date] = {}
    for t in np.asarray(times, dtype=np.float64):
        hour = int(t) // 3600  # New York's UTC offset changes on whole hours, so one lookup per hour suffices
        day = cache.get(hour)
        if day is None:
            day = cache[hour] = datetime.fromtimestamp(hour * 3600, UTC).astimezone(NEW_YORK).date()
        out.append(day)
    return out
