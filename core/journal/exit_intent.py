"""The exit a trader planned when they entered: a stop, a target, a time (``decision_contexts.exit_intent``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from core.journal._common import json_safe, utc
from core.journal.errors import InvalidJournalInput


def _price(value: Any, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise InvalidJournalInput(f"The planned {field} must be a price.") from None
    if not price.is_finite() or price <= 0:
        raise InvalidJournalInput(f"The planned {field} must be a positive price.")
    return price


@dataclass(frozen=True)
class ExitIntent:
    """Planned exit. Any part may be missing; an intent with no part at all is no plan."""

    stop: Decimal | None = None
    target: Decimal | None = None
    time: datetime | None = None  # exit by this time
    note: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "stop", _price(self.stop, "stop"))
        object.__setattr__(self, "target", _price(self.target, "target"))
        if self.time is not None:
            if not isinstance(self.time, datetime):
                raise InvalidJournalInput("The planned exit time must be a date and time.")
            object.__setattr__(self, "time", utc(self.time))

    @property
    def has_plan(self) -> bool:
        return self.stop is not None or self.target is not None or self.time is not None

    def to_json(self) -> dict[str, Any]:
        out = {"stop": self.stop, "target": self.target, "time": self.time, "note": self.note}
        return json_safe({k: v for k, v in out.items() if v is not None})

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> ExitIntent | None:
        """Read a stored intent; unreadable parts are dropped rather than breaking the journal."""
        if not value:
            return None
        time = value.get("time")
        try:
            parsed_time = datetime.fromisoformat(time) if isinstance(time, str) else None
        except ValueError:
            parsed_time = None
        parts: dict[str, Any] = {"time": parsed_time, "note": value.get("note")}
        for key in ("stop", "target"):
            try:
                parts[key] = _price(value.get(key), key)
            except InvalidJournalInput:
                parts[key] = None
        return cls(**parts)

    @classmethod
    def coerce(cls, value: ExitIntent | Mapping[str, Any] | None) -> ExitIntent | None:
        """An ExitIntent from what a caller passed (an ExitIntent, or a mapping with stop/target/time/note)."""
        if value is None or isinstance(value, ExitIntent):
            return value
        if not isinstance(value, Mapping):
            raise InvalidJournalInput("The planned exit must name a stop, a target or a time.")
        unknown = set(value) - {"stop", "target", "time", "note"}
        if unknown:
            raise InvalidJournalInput(f"The planned exit has unknown parts: {', '.join(sorted(unknown))}.")
        time = value.get("time")
        if isinstance(time, str):
            try:
                time = datetime.fromisoformat(time)
            except ValueError:
                raise InvalidJournalInput("The planned exit time must be a date and time.") from None
        return cls(value.get("stop"), value.get("target"), time, value.get("note"))
