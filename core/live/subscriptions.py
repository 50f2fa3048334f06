"""Who wants which live symbols: the chart, the watchlist and every paper session ask independently.

A symbol stays subscribed while at least one owner wants it. Owners are plain names ("chart", "watchlist",
"session:<id>"), so a closing panel or a stopped session releases exactly its own symbols and nobody else's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from core.domain.symbols import normalize_symbol


@dataclass(frozen=True)
class SubscriptionChange:
    added: frozenset[str]
    removed: frozenset[str]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


class Subscriptions:
    """Thread-safe owner -> symbols map; each call returns what changed in the union."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owners: dict[str, frozenset[str]] = {}

    def union(self) -> frozenset[str]:
        with self._lock:
            return self._union()

    def set(self, owner: str, symbols: Iterable[str]) -> SubscriptionChange:
        """Make `owner`'s symbols exactly `symbols` (upper-cased)."""
        wanted = frozenset(normalize_symbol(s) for s in symbols if s.strip())
        with self._lock:
            before = self._union()
            if wanted:
                self._owners[owner] = wanted
            else:
                self._owners.pop(owner, None)
            after = self._union()
        return SubscriptionChange(after - before, before - after)

    def release(self, owner: str) -> SubscriptionChange:
        return self.set(owner, ())

    def _union(self) -> frozenset[str]:
        return frozenset().union(*self._owners.values()) if self._owners else frozenset()
