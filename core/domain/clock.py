"""The one definition of "now": aware UTC, as every timestamp StratForge stores."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (never naive: a naive time is a bug waiting for a DST change)."""
    return datetime.now(UTC)
