"""Growable column store for chart bars.

A chart holds up to millions of bars and receives one new (or updated) bar per tick. Keeping the
columns in one preallocated float64 block that doubles when full makes appends amortised O(1) and
lets painting slice contiguous columns without copying. No Qt here on purpose: it is plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

COLUMNS = ("t", "open", "high", "low", "close", "volume")
_T, _O, _H, _L, _C, _V = range(6)


@dataclass(frozen=True, slots=True)
class BarRow:
    """One stored bar as the chart sees it (timestamp = bar open time, UTC)."""

    timestamp: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


class BarBuffer:
    """Six float64 columns (t in epoch seconds, o, h, l, c, v) with amortised-doubling growth.

    The column properties return views of the live rows; do not keep them across an append, since
    growth reallocates the block.
    """

    MIN_CAPACITY = 1024

    def __init__(self, capacity: int = MIN_CAPACITY) -> None:
        self._data = np.zeros((6, max(1, capacity)), dtype=np.float64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def capacity(self) -> int:
        return self._data.shape[1]

    @property
    def t(self) -> np.ndarray:
        return self._data[_T, : self._n]

    @property
    def open(self) -> np.ndarray:
        return self._data[_O, : self._n]

    @property
    def high(self) -> np.ndarray:
        return self._data[_H, : self._n]

    @property
    def low(self) -> np.ndarray:
        return self._data[_L, : self._n]

    @property
    def close(self) -> np.ndarray:
        return self._data[_C, : self._n]

    @property
    def volume(self) -> np.ndarray:
        return self._data[_V, : self._n]

    def set(self, *columns: np.ndarray) -> None:
        """Replace all bars with the given six equal-length columns (t, o, h, l, c, v)."""
        if len(columns) != 6:
            raise ValueError(f"expected 6 columns (t, open, high, low, close, volume), got {len(columns)}")
        arrays = [np.asarray(c, dtype=np.float64) for c in columns]
        lengths = {a.shape for a in arrays}
        if len(lengths) != 1 or arrays[0].ndim != 1:
            raise ValueError(f"columns must be 1-D and of equal length, got shapes {sorted(lengths)}")
        n = arrays[0].shape[0]
        if n > 1 and np.any(np.diff(arrays[_T]) < 0):
            raise ValueError("bar times must be in ascending order")
        capacity = self.MIN_CAPACITY
        while capacity < n + n // 4:  # headroom so live appends do not reallocate right away
            capacity *= 2
        data = np.zeros((6, capacity), dtype=np.float64)
        for k, a in enumerate(arrays):
            data[k, :n] = a
        self._data = data
        self._n = n

    def append(self, row: tuple[float, float, float, float, float, float]) -> int:
        """Add one bar at the end, growing the block by doubling when full; returns its index."""
        if self._n == self.capacity:
            grown = np.zeros((6, self.capacity * 2), dtype=np.float64)
            grown[:, : self._n] = self._data[:, : self._n]
            self._data = grown
        self._data[:, self._n] = row
        self._n += 1
        return self._n - 1

    def replace_last(self, row: tuple[float, float, float, float, float, float]) -> int:
        """Overwrite the last bar (a live bar still forming); returns its index."""
        if self._n == 0:
            raise IndexError("replace_last on an empty buffer")
        self._data[:, self._n - 1] = row
        return self._n - 1

    def row(self, index: int) -> BarRow:
        """The bar at `index` (negative indexes count from the end)."""
        if not -self._n <= index < self._n:
            raise IndexError(f"bar index {index} out of range for {self._n} bars")
        t, o, h, lo, c, v = self._data[:, index % self._n].tolist()
        return BarRow(datetime.fromtimestamp(t, UTC), o, h, lo, c, v)
