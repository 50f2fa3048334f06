"""The one place the views ask which zone to show times in, and hear when the trader changes it.

`DisplayTime` holds the current `DisplayZone` and emits `zoneChanged` when it changes; the chart's axes and readout,
every table model and the journal re-render on that signal, so the Settings choice applies at once, without a
restart. There is one per QApplication: `display_time()` returns it (made on first use as a child of the
application, found again with `findChild`). Views that are handed one explicitly use that one instead (tests do).

The choice itself is stored with the other appearance settings (QSettings "appearance/time_zone", beside
"appearance/theme"): `zone_setting` reads it, `apply_display_zone` applies it, as `app.themes.apply_theme` does
for the theme.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QSettings, Signal

from core.domain.display_time import DEFAULT_ZONE, DisplayZone, format_clock, format_minute, format_stamp, header

log = logging.getLogger(__name__)

SETTING_KEY = "appearance/time_zone"
OBJECT_NAME = "displayTime"


class DisplayTime(QObject):
    """The zone shown times are read in (see the module docstring)."""

    zoneChanged = Signal(object)  # the new DisplayZone

    def __init__(self, zone: DisplayZone = DEFAULT_ZONE, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._zone = zone

    @property
    def zone(self) -> DisplayZone:
        return self._zone

    def set_zone(self, zone: DisplayZone) -> None:
        if zone is not self._zone:
            self._zone = zone
            self.zoneChanged.emit(zone)

    def stamp(self, at: datetime | None, *, seconds: bool = True, empty: str = "—") -> str:
        """`at` formatted in the current zone; `empty` for None."""
        return empty if at is None else format_stamp(at, self._zone, seconds=seconds)

    def header(self, text: str) -> str:
        """A header naming the current zone: "Time (ET)"."""
        return header(text, self._zone)


def display_time() -> DisplayTime:
    """The application's DisplayTime (made on first use; needs a QCoreApplication)."""
    app = QCoreApplication.instance()
    if app is None:
        raise RuntimeError("display_time() needs a QApplication")
    found = app.findChild(DisplayTime, OBJECT_NAME)
    if found is None:
        found = DisplayTime(parent=app)
        found.setObjectName(OBJECT_NAME)
    return found


def shown_minute(at: datetime | None, *, label: bool = False) -> str:
    """`at` as "YYYY-MM-DD HH:MM" in the application's zone (with its label: "... 09:30 ET"); "" for None. For
    texts built when shown (titles, lists filled on load); tables re-render through their models instead."""
    if at is None:
        return ""
    zone = display_time().zone
    text = format_minute(at, zone)
    return f"{text} {zone.label}" if label else text


def shown_clock(at: datetime) -> str:
    """`at` as "HH:MM:SS ET" in the application's zone (an "updated at" caption)."""
    zone = display_time().zone
    return f"{format_clock(at, zone)} {zone.label}"


def zone_setting(value: Any) -> DisplayZone:
    """A stored preference as a zone: the default for nothing stored or a value this version does not know."""
    if not isinstance(value, str) or not value:
        return DEFAULT_ZONE
    try:
        return DisplayZone.parse(value)
    except ValueError:
        log.warning("ignored the stored time zone choice %r; showing %s", value, DEFAULT_ZONE.choice_text)
        return DEFAULT_ZONE


def stored_zone(settings: QSettings | None) -> DisplayZone:
    """The zone kept in the preference store (the default when there is none or nothing is stored)."""
    return zone_setting(settings.value(SETTING_KEY) if settings is not None else None)


def store_zone(settings: QSettings | None, zone: DisplayZone) -> None:
    """Keep `zone` in the preference store (nothing without one: tests)."""
    if settings is not None:
        settings.setValue(SETTING_KEY, zone.value)


def apply_display_zone(zone: DisplayZone | str | None) -> DisplayZone:
    """Make `zone` (a DisplayZone or its stored name) the application's; returns the zone applied."""
    chosen = zone if isinstance(zone, DisplayZone) else zone_setting(zone)
    display_time().set_zone(chosen)
    return chosen
