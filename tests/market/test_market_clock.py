"""The status bar's market clock, against NYSE's real calendar (holidays, early closes, DST)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.market.calendar import NEW_YORK
from core.market.market_clock import MarketPhase, market_status


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


def test_open_on_a_regular_day_until_the_close() -> None:
    status = market_status(ny(2026, 11, 23, 10, 0))  # a Monday
    assert status.phase is MarketPhase.OPEN and status.is_open
    assert status.next_change == ny(2026, 11, 23, 16, 0)
    assert status.next_phase is MarketPhase.AFTER_HOURS
    assert status.text() == "Market open · closes in 6h 00m"


def test_pre_market_and_after_hours_follow_the_extended_session() -> None:
    pre = market_status(ny(2026, 11, 23, 5, 30))
    assert pre.phase is MarketPhase.PRE_MARKET and pre.next_change == ny(2026, 11, 23, 9, 30)
    assert pre.text() == "Pre-market · open in 4h 00m"
    after = market_status(ny(2026, 11, 23, 17, 0))
    assert after.phase is MarketPhase.AFTER_HOURS and after.next_change == ny(2026, 11, 23, 20, 0)


def test_thanksgiving_is_skipped_and_the_day_after_closes_early() -> None:
    evening = market_status(ny(2026, 11, 25, 21, 0))  # Wednesday night before Thanksgiving
    assert evening.phase is MarketPhase.CLOSED
    assert evening.next_change == ny(2026, 11, 27, 4, 0)  # Friday's pre-market, not Thursday's
    assert evening.text() == "Market closed · pre-market Fri 04:00 ET"
    friday = market_status(ny(2026, 11, 27, 12, 0))
    assert friday.is_open and friday.next_change == ny(2026, 11, 27, 13, 0)  # the 1 pm early close


def test_weekend_points_to_monday_pre_market() -> None:
    status = market_status(datetime(2026, 11, 22, 15, 0, tzinfo=UTC))  # Sunday
    assert status.phase is MarketPhase.CLOSED
    assert status.next_change == ny(2026, 11, 23, 4, 0)


def test_daylight_saving_moves_the_open_in_utc() -> None:
    summer = market_status(ny(2026, 7, 1, 8, 0))
    winter = market_status(ny(2026, 12, 1, 8, 0))
    assert summer.next_change.astimezone(UTC).hour == 13  # 09:30 EDT
    assert winter.next_change.astimezone(UTC).hour == 14  # 09:30 EST


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        market_status(datetime(2026, 11, 23, 10, 0))  # noqa: DTZ001 - the naive time is the point
