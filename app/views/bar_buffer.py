"""Growable column stores for chart bars and the series drawn over them.

A chart holds up to millions of bars and receives one new (or updated) bar per tick; each indicator on it
holds one value (or a few) per bar. Keeping columns in one preallocated float64 block that doubles when
full makes appends amortised O(1) and lets painting slice contiguous columns without copying. No Qt here
on purpose: it is plain data.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

COLUMNS = ("t", "open", "high", "low", "close", "volume")
_T, _O, _H, _L, _C, _V = range(6)
_versions = itertools.count(1)


@dataclass(frozen=True, slots=True)
class BarRow:
    """One stored bar as the chart sees it (timestamp = bar open time, UTC)."""

    timestamp: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


class GrowableColumns:
    """`width` float64 columns of equal length with amortised-doubling growth.

    `column(k)` returns a view of the live rows; do not keep it across an append, since growth
    reallocates the block.
    """

    MIN_CAPACITY = 1024

    def __init__(self, width: int, capacity: int = MIN_CAPACITY) -> None:
        self._data = np.zeros((width, max(1, capacity)), dtype=np.float64)
        self._n = 0
        # New on every write, and unique across buffers, so derived data (merged columns) knows when it is stale.
        self.version = next(_versions)
        # New only when all rows are replaced: data about existing rows (their times) holds across appends.
        self.reset_version = self.version

    def __len__(self) -> int:
        return self._n

    @property
    def width(self) -> int:
        return self._data.shape[0]

    @property
    def capacity(self) -> int:
        return self._data.shape[1]

    def column(self, k: int) -> np.ndarray:
        return self._data[k, : self._n]

    def set_columns(self, columns: Sequence[np.ndarray]) -> None:
        """Replace all rows with `width` equal-length 1-D columns (copied), leaving room to grow."""
        if len(columns) != self.width:
            raise ValueError(f"expected {self.width} columns, got {len(columns)}")
        arrays = [np.asarray(c, dtype=np.float64) for c in columns]
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1 or arrays[0].ndim != 1:
            raise ValueError(f"columns must be 1-D and of equal length, got shapes {sorted(shapes)}")
        n = arrays[0].shape[0]
        capacity = self.MIN_CAPACITY
        while capacity < n + n // 4:  # headroom so live appends do not reallocate right away
            capacity *= 2
        data = np.zeros((self.width, capacity), dtype=np.float64)
        for k, a in enumerate(arrays):
            data[k, :n] = a
        self._data = data
        self._n = n
        self.version = self.reset_version = next(_versions)

    def append(self, row: Sequence[float]) -> int:
        """Add one row at the end, growing the block by doubling when full; returns its index."""
        if self._n == self.capacity:
            grown = np.zeros((self.width, self.capacity * 2), dtype=np.float64)
            grown[:, : self._n] = self._data[:, : self._n]
            self._data = grown
        self._data[:, self._n] = row
        self._n += 1
        self.version = next(_versions)
        return self._n - 1

    def replace_last(self, row: Sequence[float]) -> int:
        """Overwrite the last row (a live bar still forming); returns its index."""
        if self._n == 0:
            raise IndexError("replace_last on an empty buffer")
        self._data[:, self._n - 1] = row
        self.version = next(_versions)
        return self._n - 1

    def values_at(self, index: int) -> tuple[float, ...]:
        """Row `index` (negative counts from the end) as plain floats."""
        if not -self._n <= index < self._n:
            raise IndexError(f"row {index} out of range for {self._n} rows")
        return tuple(self._data[:, index % self._n].tolist())


class BarBuffer(GrowableColumns):
    """Six float64 columns: t (bar open time, epoch seconds UTC), open, high, low, close, volume."""

    def __init__(self, capacity: int = GrowableColumns.MIN_CAPACITY) -> None:
        super().__init__(len(COLUMNS), capacity)

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
        if len(columns) != len(COLUMNS):
            raise ValueError(f"expected 6 columns (t, open, high, low, close, volume), got {len(columns)}")
        t = np.asarray(columns[_T], dtype=np.float64)
        if t.ndim == 1 and t.shape[0] > 1 and np.any(np.diff(t) < 0):
            raise ValueError("bar times must be in ascending order")
        self.set_columns(columns)

    def row(self, index: int) -> BarRow:
        """The bar at `index` (negative indexes count from the end)."""
        if not -self._n <= index < self._n:
            raise IndexError(f"bar index {index} out of range for {self._n} bars")
        t, o, h, lo, c, v = self._data[:, index % self._n].tolist()
        return BarRow(datetime.fromtimestamp(t, UTC), o, h, lo, c, v)
