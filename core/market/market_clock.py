"""The market clock a trader reads in the status bar: is NYSE open, and when does that change.

Alpaca's paper account answers the same question (`GET /v2/clock`), but the status bar must work offline and
must not spend the club's shared request budget every few seconds, so it is computed from the NYSE calendar
(holidays, early closes and daylight saving included). Phases follow Alpaca's extended hours: pre-market
04:00 to the open, after-hours from the close to 20:00 New York time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from core.market.calendar import EXTENDED_CLOSE, EXTENDED_OPEN, NEW_YORK, TradingCalendar

LOOKAHEAD_DAYS = 10  # the longest run of closed days (a long weekend plus holidays) is far shorter


class MarketPhase(StrEnum):
    PRE_MARKET = "pre-market"
    OPEN = "open"
    AFTER_HOURS = "after-hours"
    CLOSED = "closed"


@dataclass(frozen=True)
class MarketStatus:
    """The phase at `now` and the next moment the phase changes (both UTC)."""

    now: datetime
    phase: MarketPhase
    next_change: datetime
    next_phase: MarketPhase

    @property
    def is_open(self) -> bool:
        return self.phase is MarketPhase.OPEN

    def text(self) -> str:
        """E.g. "Market open · closes in 2h 05m" or "Market closed · pre-market Mon 04:00 ET"."""
        wait = self.next_change - self.now
        if wait < timedelta(hours=12):
            when = f"in {_span(wait)}"
        else:
            when = self.next_change.astimezone(NEW_YORK).strftime("%a %H:%M ET")
        if self.phase is MarketPhase.OPEN:
            return f"Market open · closes {when}"
        label = {MarketPhase.PRE_MARKET: "Pre-market", MarketPhase.AFTER_HOURS: "After-hours"}.get(
            self.phase, "Market closed"
        )
        return f"{label} · {self.next_phase.value} {when}"


def _span(wait: timedelta) -> str:
    minutes = max(0, int(wait.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"


def _phases(calendar: TradingCalendar, session: date) -> list[tuple[datetime, MarketPhase]]:
    """The phase boundaries of one trading session, in order (each phase starts at its time)."""
    regular = calendar.regular_hours(session)
    ext_open = datetime.combine(session, EXTENDED_OPEN, NEW_YORK).astimezone(UTC)
    ext_close = datetime.combine(session, EXTENDED_CLOSE, NEW_YORK).astimezone(UTC)
    return [
        (ext_open, MarketPhase.PRE_MARKET),
        (regular.start, MarketPhase.OPEN),
        (regular.end, MarketPhase.AFTER_HOURS),
        (ext_close, MarketPhase.CLOSED),
    ]


def market_status(now: datetime, calendar: TradingCalendar | None = None) -> MarketStatus:
    """Where NYSE is at `now` (timezone-aware)."""
    if now.tzinfo is None:
        raise ValueError("market_status needs a timezone-aware time")
    now = now.astimezone(UTC)
    cal = calendar or TradingCalendar()
    sessions = cal.trading_days(now - timedelta(days=1), now + timedelta(days=LOOKAHEAD_DAYS))
    boundaries = [b for session in sessions for b in _phases(cal, session)]
    phase = MarketPhase.CLOSED
    for at, starting in boundaries:
        if at <= now:
            phase = starting
            continue
        if starting is not phase:
            return MarketStatus(now, phase, at, starting)
    raise ValueError(f"the NYSE calendar has no sessions after {now:%Y-%m-%d}")
