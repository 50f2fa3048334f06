"""Arrays of QLineF / QRectF backed by numpy memory, for drawLines / drawRects in one call.

A chart paint fills a few hundred lines and rectangles per colour from numpy expressions and hands them to Qt
as one pointer and a count (QPainter's `drawLines(const QLineF *, int)` overloads, which PySide6 takes as a
wrapped pointer). Both classes are plain structs of four doubles, so a (capacity, 4) float64 block is an
array of them. pyqtgraph's PrimitiveArray does the same but re-wraps the pointer on every draw, and with
PySide6 each wrap goes through shiboken's import hook: measured at about 10 microseconds per call, eight
calls per live bar. Here the wrapper is made once per allocation and kept with the block it points into.
"""

from __future__ import annotations

import numpy as np
import shiboken6
from PySide6.QtCore import QLineF, QRectF

FIELDS = 4  # QLineF: x1, y1, x2, y2; QRectF: x, y, width, height


class PrimitiveBuffer:
    """A growable block of `klass` structs (QLineF or QRectF) shared between numpy and QPainter."""

    def __init__(self, klass: type[QLineF] | type[QRectF], capacity: int = 256) -> None:
        if klass not in (QLineF, QRectF):
            raise TypeError(f"PrimitiveBuffer holds QLineF or QRectF, not {klass.__name__}")
        self._klass = klass
        self._size = 0
        self._allocate(max(1, capacity))

    def _allocate(self, capacity: int) -> None:
        self._block = np.zeros((capacity, FIELDS), dtype=np.float64)
        # A non-owning wrapper around the block's first struct: valid exactly as long as the block, kept with it.
        self._pointer = shiboken6.wrapInstance(self._block.ctypes.data, self._klass)

    def __len__(self) -> int:
        return self._size

    def resize(self, size: int) -> np.ndarray:
        """Make room for `size` structs (their values are undefined) and return them as a (size, 4) view."""
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        if size > len(self._block):
            capacity = len(self._block)
            while capacity < size:
                capacity *= 2
            self._allocate(capacity)
        self._size = size
        return self._block[:size]

    def drawargs(self) -> tuple[QLineF | QRectF, int]:
        """(pointer, count) for `QPainter.drawLines` / `drawRects`."""
        return self._pointer, self._size
