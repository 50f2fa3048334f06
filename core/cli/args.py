"""Argument types shared by StratForge's command-line tools."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from core.domain.symbols import InvalidSymbol, Symbol
from core.domain.timeframes import Timeframe


def utc_time(text: str) -> datetime:
    """An ISO date or date-time; without a zone it is UTC (as for imported files)."""
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date/time: {text!r}") from None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def symbol(text: str) -> str:
    """A ticker in its one spelling (``brk-b`` -> ``BRK.B``); anything else is refused before any work starts."""
    try:
        return Symbol(text)
    except InvalidSymbol as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def timeframe(text: str) -> str:
    """One of the ``Timeframe`` names, refused with the list of allowed ones otherwise."""
    try:
        return Timeframe.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
