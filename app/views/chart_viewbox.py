"""The chart panes' ViewBox: pyqtgraph's, with a visible-data auto-range that does not map item bounds.

Every followed live bar moves the x range, and each pane's y range is then fitted to the visible bars. The
stock ViewBox.childrenBounds maps every item's data bounds through the view transform, which first rebuilds
that transform for the x change alone (updateMatrix: the child group's setTransform and its notifications),
only for the y fit to change it again. The chart's items (candles, volume, indicator lines) sit untransformed
in the view's own coordinates, so their data bounds already are view bounds: for them the union is taken
directly, and the transform is rebuilt once per frame. Anything else (a transformed item, one without data
bounds, or with pixel padding) gets the stock computation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pyqtgraph as pg


class ChartViewBox(pg.ViewBox):
    """A ViewBox whose children's bounds are read straight from their data bounds when nothing transforms them."""

    def childrenBounds(
        self,
        frac: Sequence[float] | None = None,
        orthoRange: Sequence[Sequence[float] | None] = (None, None),
        items: Sequence[pg.GraphicsObject] | None = None,
    ) -> list[list[float] | None]:
        chosen = self.addedItems if items is None else items
        fractions = (1.0, 1.0) if frac is None else frac
        scene = self.scene()
        ranges: list[list[float] | None] = [None, None]
        for item in chosen:
            if not item.isVisible() or item.scene() is not scene:
                continue
            if not self._in_view_coordinates(item):
                return super().childrenBounds(frac=frac, orthoRange=orthoRange, items=items)
            for axis in (0, 1):
                bounds = item.dataBounds(axis, frac=fractions[axis], orthoRange=orthoRange[axis])
                if bounds is None or bounds[0] is None or bounds[1] is None:
                    continue
                low, high = float(bounds[0]), float(bounds[1])
                if not (math.isfinite(low) and math.isfinite(high)):
                    continue
                low, high = min(low, high), max(low, high)
                current = ranges[axis]
                ranges[axis] = [low, high] if current is None else [min(low, current[0]), max(high, current[1])]
        return ranges

    def _in_view_coordinates(self, item: pg.GraphicsObject) -> bool:
        """Whether `item`'s data bounds are view coordinates: a direct child of the view's data group, with no
        transform of its own, data bounds to ask and no pixel padding to add."""
        if getattr(item, "dataBounds", None) is None or item.parentItem() is not self.childGroup:
            return False
        padding = getattr(item, "pixelPadding", None)
        if padding is not None and padding() != 0:
            return False
        return item.transform().isIdentity() and item.pos().isNull() and item.rotation() == 0 and item.scale() == 1
