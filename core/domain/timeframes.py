"""The bar sizes StratForge knows, as one enumeration: the database CHECK, the menus, the parsers all read it.

Named as Alpaca names them, so a timeframe travels from the UI to the data API and into the ``ohlcv_bars`` table
unchanged. A ``StrEnum``: ``Timeframe.MIN_1 == "1Min"``, so stored strings and enum members compare equal.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum


class Timeframe(StrEnum):
    MIN_1 = "1Min"
    MIN_5 = "5Min"
    MIN_15 = "15Min"
    MIN_30 = "30Min"
    HOUR_1 = "1Hour"
    DAY_1 = "1Day"

    @property
    def delta(self) -> timedelta:
        """The length of one bar."""
        return _DELTAS[self]

    @classmethod
    def parse(cls, text: str) -> Timeframe:
        """The member named by ``text``; a ``ValueError`` that lists the allowed names otherwise."""
        try:
            return cls(text)
        except ValueError:
            allowed = ", ".join(cls)
            raise ValueError(f"unknown timeframe {text!r} (allowed: {allowed})") from None


_DELTAS: dict[Timeframe, timedelta] = {
    Timeframe.MIN_1: timedelta(minutes=1),
    Timeframe.MIN_5: timedelta(minutes=5),
    Timeframe.MIN_15: timedelta(minutes=15),
    Timeframe.MIN_30: timedelta(minutes=30),
    Timeframe.HOUR_1: timedelta(hours=1),
    Timeframe.DAY_1: timedelta(days=1),
}
