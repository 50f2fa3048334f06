"""A heatmap of one metric over two batch variables: which corner of the parameter space works.

When a batch varies more than two variables, each cell is the mean of the metric over the runs that
share its pair of values, so a cell reads "on average, with fast=8 and slow=60". A pair no finished run
covers is NaN, which pyqtgraph draws transparent: a blank cell, never a misleading zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.models.batch_runs_model import shown
from core.backtest.batch_jobs import RunRow


@dataclass(frozen=True)
class Grid:
    x_name: str
    y_name: str
    metric: str
    x_values: tuple[Any, ...]
    y_values: tuple[Any, ...]
    values: np.ndarray  # shape (len(x_values), len(y_values)); NaN where no run has the metric


def _order(value: Any) -> tuple[int, Any]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


def metric_grid(runs: Sequence[RunRow], x_name: str, y_name: str, metric: str) -> Grid:
    """Mean of ``metric`` per (x, y) pair over ``runs``; values on each axis in ascending order."""
    sums: dict[tuple[Any, Any], list[float]] = {}
    xs: dict[str, Any] = {}
    ys: dict[str, Any] = {}
    for run in runs:
        if x_name not in run.variables or y_name not in run.variables:
            continue
        x, y = run.variables[x_name], run.variables[y_name]
        xs.setdefault(repr(x), x)
        ys.setdefault(repr(y), y)
        value = run.metrics.get(metric)
        if isinstance(value, int | float) and not isinstance(value, bool):
            sums.setdefault((repr(x), repr(y)), []).append(float(value))
    x_values = tuple(sorted(xs.values(), key=_order))
    y_values = tuple(sorted(ys.values(), key=_order))
    grid = np.full((len(x_values), len(y_values)), np.nan)
    for i, x in enumerate(x_values):
        for j, y in enumerate(y_values):
            cell = sums.get((repr(x), repr(y)))
            if cell:
                grid[i, j] = sum(cell) / len(cell)
    return Grid(x_name, y_name, metric, x_values, y_values, grid)


class Heatmap(QWidget):
    """The plot (x variable along the bottom, y up the side, one labelled tick per value) and a colour bar."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("batchHeatmap")
        self.grid: Grid | None = None
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("heatmapPlot")
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.image_item = pg.ImageItem(axisOrder="col-major")  # image[i, j] is x value i, y value j
        self.plot.addItem(self.image_item)
        self.color_bar = pg.ColorBarItem(values=(0.0, 1.0), colorMap="viridis", interactive=False, width=14)
        self.color_bar.setImageItem(self.image_item, insert_in=self.plot.getPlotItem())
        self.message = QLabel("Choose two variables")
        self.message.setObjectName("heatmapMessage")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.message)
        layout.addWidget(self.plot, 1)

    def show_grid(self, grid: Grid) -> None:
        self.grid = grid
        if grid.values.size == 0:
            self.clear_grid(f"No finished runs vary {grid.x_name} and {grid.y_name}")
            return
        finite = grid.values[np.isfinite(grid.values)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if high <= low:  # one value everywhere: still a visible colour, not a division by zero
            low, high = low - 0.5, high + 0.5
        self.image_item.setImage(grid.values, autoLevels=False, levels=(low, high))
        self.image_item.setRect(0, 0, grid.values.shape[0], grid.values.shape[1])
        self.color_bar.setLevels((low, high))
        item = self.plot.getPlotItem()
        item.getAxis("bottom").setTicks([[(i + 0.5, shown(v)) for i, v in enumerate(grid.x_values)]])
        item.getAxis("left").setTicks([[(j + 0.5, shown(v)) for j, v in enumerate(grid.y_values)]])
        item.setLabel("bottom", grid.x_name)
        item.setLabel("left", grid.y_name)
        self.color_bar.setLabel("right", grid.metric)  # the legend says which metric the colours are
        item.setRange(xRange=(0, grid.values.shape[0]), yRange=(0, grid.values.shape[1]), padding=0.02)
        blank = int(np.isnan(grid.values).sum())
        self.message.setText(
            f"mean {grid.metric} by {grid.x_name} x {grid.y_name}" + (f" ({blank} cells without runs)" if blank else "")
        )

    def clear_grid(self, message: str) -> None:
        self.grid = None
        self.image_item.clear()
        self.message.setText(message)
