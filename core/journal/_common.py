"""Small helpers every journal module shares: UTC times, JSON-safe values, text limits, the per-user lock."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.db.advisory import advisory_key
from core.journal.errors import InvalidJournalInput

MONEY_PLACES = Decimal("0.000001")  # NUMERIC(20,6), as the ledger stores money


def utc(value: datetime) -> datetime:
    """Aware UTC (the driver returns the session's zone; naive values are taken as UTC)."""
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def money(value: Decimal) -> Decimal:
    return value.quantize(MONEY_PLACES)


def json_safe(value: Any) -> Any:
    """``value`` with Decimals as strings, times as ISO-8601 and UUIDs as text, ready for a JSONB column."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    return value


def json_object(value: Mapping[str, Any] | None, field: str) -> dict[str, Any] | None:
    """A JSON object for a JSONB column, or InvalidJournalInput naming ``field``."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidJournalInput(f"{field} must be a set of named values.")
    safe = json_safe(value)
    try:
        json.dumps(safe)
    except (TypeError, ValueError) as exc:
        raise InvalidJournalInput(f"{field} holds a value that cannot be stored: {exc}") from exc
    return safe


def bounded_text(value: str | None, field: str, limit: int | None = None, *, required: bool = False) -> str | None:
    """Trimmed text (None when empty unless ``required``), at most ``limit`` characters."""
    if value is None:
        if required:
            raise InvalidJournalInput(f"{field} must not be empty.")
        return None
    if not isinstance(value, str):
        raise InvalidJournalInput(f"{field} must be text.")
    cleaned = value.strip()
    if not cleaned:
        if required:
            raise InvalidJournalInput(f"{field} must not be empty.")
        return None
    if limit is not None and len(cleaned) > limit:
        raise InvalidJournalInput(f"{field} is longer than {limit} characters.")
    return cleaned


def lock_user_journal(session: Session, user_id: uuid.UUID) -> None:
    """Serialise journal rewrites of one user (campaign rebuilds, imports) until the transaction ends.

    Two clients of a club can rebuild the same trader's campaigns at once (both saw the fill); without the
    lock the second delete-and-rewrite would collide with the first's rows."""
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(f"stratforge.journal:{user_id}")})


class _Unset:
    """Marks an argument that was not given (None means "clear it")."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()
