"""Argument types shared by StratForge's command-line tools."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime


def utc_time(text: str) -> datetime:
    """An ISO date or date-time; without a zone it is UTC (as for imported files)."""
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date/time: {text!r}") from None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
