"""The zone shown times are read in: New York by default, the machine's, or UTC; stored times stay UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from core.domain.display_time import (
    DEFAULT_ZONE,
    NEW_YORK,
    DisplayZone,
    format_clock,
    format_epoch,
    format_minute,
    format_stamp,
    header,
    in_zone,
    system_tzinfo,
)


def test_the_default_is_exchange_time() -> None:
    assert DEFAULT_ZONE is DisplayZone.EXCHANGE
    assert DisplayZone.EXCHANGE.tzinfo is NEW_YORK
    assert DisplayZone.UTC.tzinfo is UTC


def test_a_winter_open_reads_0930_in_new_york() -> None:
    assert format_stamp(datetime(2026, 1, 15, 14, 30, tzinfo=UTC), DisplayZone.EXCHANGE) == "2026-01-15 09:30:00"
    assert format_minute(datetime(2026, 1, 15, 14, 30, tzinfo=UTC), DisplayZone.UTC) == "2026-01-15 14:30"


def test_a_summer_open_reads_0930_in_new_york() -> None:
    assert format_minute(datetime(2026, 7, 15, 13, 30, tzinfo=UTC), DisplayZone.EXCHANGE) == "2026-07-15 09:30"


def test_the_march_switch_moves_new_york_from_minus_five_to_minus_four_hours() -> None:
    before = datetime(2026, 3, 8, 6, 59, tzinfo=UTC)  # 01:59 EST
    after = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT: 02:xx never happens
    assert format_clock(before, DisplayZone.EXCHANGE) == "01:59:00"
    assert format_clock(after, DisplayZone.EXCHANGE) == "03:00:00"
    assert format_minute(datetime(2026, 3, 9, 13, 30, tzinfo=UTC), DisplayZone.EXCHANGE) == "2026-03-09 09:30"
    assert format_minute(datetime(2026, 3, 6, 14, 30, tzinfo=UTC), DisplayZone.EXCHANGE) == "2026-03-06 09:30"


def test_the_november_switch_repeats_one_new_york_hour() -> None:
    first = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    second = first + timedelta(hours=1)  # 01:30 EST, an hour later
    assert format_clock(first, DisplayZone.EXCHANGE) == format_clock(second, DisplayZone.EXCHANGE) == "01:30:00"
    assert in_zone(first, DisplayZone.EXCHANGE).utcoffset() == timedelta(hours=-4)
    assert in_zone(second, DisplayZone.EXCHANGE).utcoffset() == timedelta(hours=-5)
    assert format_minute(datetime(2026, 11, 2, 14, 30, tzinfo=UTC), DisplayZone.EXCHANGE) == "2026-11-02 09:30"


def test_a_naive_time_is_refused_not_guessed() -> None:
    naive = datetime(2026, 1, 15, 14, 30)  # noqa: DTZ001 - the mistake under test
    for zone in DisplayZone:
        with pytest.raises(ValueError, match="naive"):
            format_stamp(naive, zone)


def test_any_aware_time_is_converted_whatever_zone_it_carries() -> None:
    tokyo = datetime(2026, 1, 15, 23, 30, tzinfo=ZoneInfo("Asia/Tokyo"))  # 14:30Z
    assert format_minute(tokyo, DisplayZone.EXCHANGE) == "2026-01-15 09:30"
    fixed = datetime(2026, 1, 15, 15, 30, tzinfo=timezone(timedelta(hours=1)))
    assert format_minute(fixed, DisplayZone.UTC) == "2026-01-15 14:30"


def test_epoch_seconds_format_in_the_zone() -> None:
    t = datetime(2026, 1, 15, 14, 30, 5, tzinfo=UTC).timestamp()
    assert format_epoch(t, DisplayZone.EXCHANGE) == "2026-01-15 09:30"
    assert format_epoch(t, DisplayZone.UTC, with_seconds=True) == "2026-01-15 14:30:05"


@pytest.mark.parametrize(
    ("name", "zone"),
    [("exchange", DisplayZone.EXCHANGE), ("ET", DisplayZone.EXCHANGE), (" Local ", DisplayZone.LOCAL),
     ("UTC", DisplayZone.UTC), ("utc", DisplayZone.UTC)],
)  # fmt: skip
def test_names_parse_to_zones(name: str, zone: DisplayZone) -> None:
    assert DisplayZone.parse(name) is zone


def test_an_unknown_name_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="exchange, local, utc"):
        DisplayZone.parse("Mars")


def test_headers_name_the_zone() -> None:
    assert header("Time", DisplayZone.EXCHANGE) == "Time (ET)"
    assert header("Time", DisplayZone.UTC) == "Time (UTC)"
    assert DisplayZone.EXCHANGE.choice_text == "Exchange (New York)"


def test_the_local_zone_is_the_machines_with_its_daylight_saving_rules(tmp_path: Path) -> None:
    berlin = system_tzinfo({"TZ": "Europe/Berlin"}, tmp_path / "none")
    assert datetime(2026, 1, 15, 12, tzinfo=UTC).astimezone(berlin).hour == 13
    assert datetime(2026, 7, 15, 12, tzinfo=UTC).astimezone(berlin).hour == 14  # not a fixed winter offset
    link = tmp_path / "localtime"
    link.symlink_to(Path("/usr/share/zoneinfo/Asia/Tokyo"))
    tokyo = system_tzinfo({}, link)
    assert datetime(2026, 1, 15, 0, tzinfo=UTC).astimezone(tokyo).hour == 9


def test_the_local_label_is_an_abbreviation() -> None:
    assert DisplayZone.LOCAL.label
    assert DisplayZone.EXCHANGE.label == "ET" and DisplayZone.UTC.label == "UTC"
