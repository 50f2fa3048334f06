"""The zone times are shown in: the exchange's (New York), the machine's, or UTC.

Stored times stay aware UTC everywhere; this module only decides how a time reads on screen or in a report. A US
equity trader thinks in New York time (the open is 09:30, not 14:30 or 15:30 depending on the season), so the
exchange's zone is the default, and every view formats through the one `DisplayZone` the trader chose, so no two
views disagree about what "09:30" means.

A naive datetime is refused rather than guessed: whether it meant UTC or the machine's zone cannot be told, and a
guess shifts a fill by hours without anyone noticing.

Formatting uses f-strings, not strftime: under PySide6 each strftime call goes through shiboken's import hook,
which made it the chart readout's largest cost on every live bar (measured in app/views/chart_view.py).
"""

from __future__ import annotations

import functools
import os
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EXCHANGE_ZONE_NAME = "America/New_York"
NEW_YORK = ZoneInfo(EXCHANGE_ZONE_NAME)
LOCALTIME_PATH = Path("/etc/localtime")


class DisplayZone(StrEnum):
    """Where shown times are read. The values are what the preference store keeps."""

    EXCHANGE = "exchange"
    LOCAL = "local"
    UTC = "utc"

    @classmethod
    def parse(cls, name: str) -> DisplayZone:
        """The zone a stored or typed name means ("exchange", "Local", "UTC", also "ET"/"new_york");
        ValueError naming the choices otherwise."""
        key = name.strip().lower()
        aliases = {"et": cls.EXCHANGE, "new_york": cls.EXCHANGE, "america/new_york": cls.EXCHANGE, "z": cls.UTC}
        if key in aliases:
            return aliases[key]
        try:
            return cls(key)
        except ValueError:
            choices = ", ".join(zone.value for zone in cls)
            raise ValueError(f"unknown time zone choice {name!r} (choose from {choices})") from None

    @property
    def tzinfo(self) -> tzinfo:
        """The zone's rules (daylight saving included)."""
        if self is DisplayZone.EXCHANGE:
            return NEW_YORK
        if self is DisplayZone.UTC:
            return UTC
        return local_tzinfo()

    @property
    def label(self) -> str:
        """Short name for headers and readouts: "ET", "UTC", or the local zone's abbreviation now (e.g. "CET")."""
        if self is DisplayZone.EXCHANGE:
            return "ET"
        if self is DisplayZone.UTC:
            return "UTC"
        return datetime.now(local_tzinfo()).tzname() or "local"

    @property
    def choice_text(self) -> str:
        """What a settings choice says."""
        return _TITLES[self]


_TITLES = {
    DisplayZone.EXCHANGE: "Exchange (New York)",
    DisplayZone.LOCAL: "Local (this computer)",
    DisplayZone.UTC: "UTC",
}
DEFAULT_ZONE = DisplayZone.EXCHANGE


def system_tzinfo(environ: dict[str, str] | None = None, localtime: Path = LOCALTIME_PATH) -> tzinfo:
    """The machine's zone with its daylight-saving rules: $TZ if it names a zone, else /etc/localtime (its link
    target's name, or the file itself), else the current fixed offset (which is right until the next switch).

    `datetime.now().astimezone().tzinfo` alone is a fixed offset: a winter time formatted in summer would be an hour
    off, which is why the IANA zone is looked for first."""
    env = os.environ if environ is None else environ
    name = env.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    try:
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            return ZoneInfo(target.split("zoneinfo/", 1)[1])
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    try:
        with localtime.open("rb") as file:
            return ZoneInfo.from_file(file, key="localtime")
    except (ValueError, OSError):
        pass
    fixed = datetime.now().astimezone().tzinfo
    return fixed if fixed is not None else UTC


@functools.cache
def local_tzinfo() -> tzinfo:
    """The machine's zone, looked up once per process."""
    return system_tzinfo()


def in_zone(at: datetime, zone: DisplayZone) -> datetime:
    """`at` as wall time in `zone`; ValueError for a naive datetime (see the module docstring)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"time {at.isoformat()} is naive; give it a time zone (stored times are UTC)")
    return at.astimezone(zone.tzinfo)


def format_stamp(at: datetime, zone: DisplayZone, *, seconds: bool = True) -> str:
    """As "YYYY-MM-DD HH:MM:SS" (or without seconds) in `zone`."""
    t = in_zone(at, zone)
    text = f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}"
    return f"{text}:{t.second:02d}" if seconds else text


def format_minute(at: datetime, zone: DisplayZone) -> str:
    """As "YYYY-MM-DD HH:MM" in `zone`."""
    return format_stamp(at, zone, seconds=False)


def format_clock(at: datetime, zone: DisplayZone) -> str:
    """As "HH:MM:SS" in `zone` (an "updated at" caption)."""
    t = in_zone(at, zone)
    return f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}"


def format_epoch(seconds: float, zone: DisplayZone, *, with_seconds: bool = False) -> str:
    """UTC epoch seconds (the chart's and the backtest trades' unit) as a stamp in `zone`."""
    return format_stamp(datetime.fromtimestamp(seconds, UTC), zone, seconds=with_seconds)


def header(text: str, zone: DisplayZone) -> str:
    """A column header naming its zone: "Time (ET)", "Time (UTC)"."""
    return f"{text} ({zone.label})"
