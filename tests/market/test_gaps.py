"""Trading windows from the NYSE calendar, and the interval arithmetic that turns them into requests."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from core.market.calendar import NEW_YORK, TradingCalendar, Window
from core.market.gaps import merge, missing_ranges, subtract


def ny(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), NEW_YORK).astimezone(UTC)


def utc(day: int, hh: int) -> datetime:
    return datetime(2025, 1, day, hh, tzinfo=UTC)


CAL = TradingCalendar(2026)


def test_windows_skip_weekends_and_holidays_and_follow_daylight_saving():
    windows = CAL.trading_windows(ny(date(2025, 7, 3), 0), ny(date(2025, 7, 8), 0), "1Min")
    assert [w.start.astimezone(NEW_YORK).date() for w in windows] == [date(2025, 7, 3), date(2025, 7, 7)]
    assert windows[0] == Window(ny(date(2025, 7, 3), 4), ny(date(2025, 7, 3), 20))
    winter = CAL.trading_windows(ny(date(2025, 1, 6), 0), ny(date(2025, 1, 7), 0), "5Min")
    assert winter == [Window(datetime(2025, 1, 6, 9, tzinfo=UTC), datetime(2025, 1, 7, 1, tzinfo=UTC))]


def test_windows_are_clipped_to_the_range_and_daily_bars_open_at_new_york_midnight():
    clipped = CAL.trading_windows(ny(date(2025, 7, 1), 10), ny(date(2025, 7, 1), 11), "1Min")
    assert clipped == [Window(ny(date(2025, 7, 1), 10), ny(date(2025, 7, 1), 11))]
    daily = CAL.trading_windows(ny(date(2025, 11, 26), 0), ny(date(2025, 12, 1), 0), "1Day")
    assert [w.start for w in daily] == [ny(date(2025, 11, 26), 0), ny(date(2025, 11, 28), 0)]  # Thanksgiving
    assert CAL.bar_capacity(daily, "1Day") == 2


def test_regular_hours_know_early_closes():
    assert CAL.regular_hours(date(2025, 11, 28)) == Window(ny(date(2025, 11, 28), 9, 30), ny(date(2025, 11, 28), 13))


def test_merge_and_subtract():
    a, b, c = Window(utc(1, 0), utc(1, 5)), Window(utc(1, 5), utc(1, 8)), Window(utc(1, 10), utc(1, 12))
    assert merge([c, b, a]) == [Window(utc(1, 0), utc(1, 8)), c]
    assert subtract(Window(utc(1, 0), utc(1, 12)), merge([b, c])) == [
        Window(utc(1, 0), utc(1, 5)),
        Window(utc(1, 8), utc(1, 10)),
    ]
    assert subtract(Window(utc(1, 6), utc(1, 7)), [b]) == []


def test_missing_ranges_join_across_time_with_nothing_fetched():
    days = [Window(utc(d, 9), utc(d, 21)) for d in (6, 7, 8, 9)]
    assert missing_ranges(days, []) == [Window(utc(6, 9), utc(9, 21))]
    fetched_middle = [Window(utc(7, 0), utc(8, 23))]
    assert missing_ranges(days, fetched_middle) == [Window(utc(6, 9), utc(6, 21)), Window(utc(9, 9), utc(9, 21))]
    part_of_a_day = [Window(utc(6, 12), utc(6, 15))]
    assert missing_ranges(days[:2], part_of_a_day) == [Window(utc(6, 9), utc(6, 12)), Window(utc(6, 15), utc(7, 21))]
    assert missing_ranges(days, [Window(utc(1, 0), utc(31, 0))]) == []


def test_fetched_time_outside_trading_windows_does_not_split_requests():
    """A fetch that covered only a night is no reason for two requests around it."""
    days = [Window(utc(6, 9), utc(6, 21)), Window(utc(7, 9), utc(7, 21))]
    night = [Window(utc(6, 22), utc(6, 23))]
    assert missing_ranges(days, night) == [Window(utc(6, 9), utc(7, 21))]
    assert missing_ranges(days, night)[0].end - missing_ranges(days, night)[0].start == timedelta(hours=36)
