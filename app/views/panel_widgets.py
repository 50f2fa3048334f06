"""Small widget builders the work panels share: a named button wired to its slot, a read-only row table, and
choosing a saved strategy in a combo box (so every panel's picker behaves the same way)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QAbstractItemView, QComboBox, QHeaderView, QLabel, QPushButton, QTableView

from core.db.trouble import trader_message
from core.strategy.library import SavedStrategy


def named_button(text: str, name: str, slot: Callable[[], None]) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.clicked.connect(slot)
    return button


def row_table(name: str, model: Any) -> QTableView:
    """A table that selects whole rows and cannot be edited (results, sessions, signals)."""
    view = QTableView()
    view.setObjectName(name)
    view.setModel(model)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setAlternatingRowColors(True)
    return view


def compact_table(name: str, model: Any) -> QTableView:
    """A ``row_table`` with one selected row at a time, no row numbers, and columns fitted to their contents."""
    view = row_table(name, model)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.verticalHeader().hide()
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    view.horizontalHeader().setStretchLastSection(True)
    return view


def choose_strategy(combo: QComboBox, saved: SavedStrategy, changed: Callable[[int], None]) -> None:
    """Make ``saved`` the combo's choice: added when it is not listed, else its item replaced by this newer version;
    ``changed`` runs once either way (Qt emits nothing when the current index does not move)."""
    index = strategy_index(combo, saved.id)
    if index < 0:
        combo.addItem(saved.name, saved)
        index = combo.count() - 1
    else:
        combo.setItemText(index, saved.name)
        combo.setItemData(index, saved)
    if combo.currentIndex() == index:
        changed(index)
    else:
        combo.setCurrentIndex(index)


def strategy_index(combo: QComboBox, strategy_id: uuid.UUID) -> int:
    """The combo row holding the saved strategy ``strategy_id`` (any version), or -1."""
    for i in range(combo.count()):
        data = combo.itemData(i)
        if isinstance(data, SavedStrategy) and data.id == strategy_id:
            return i
    return -1


def refill_strategies(combo: QComboBox, strategies: list[SavedStrategy], changed: Callable[[int], None]) -> None:
    """Fill ``combo`` with ``strategies``, keeping the current choice when it is still there (else the first);
    ``changed`` runs once with the resulting index (the combo's own signal is blocked while it is rebuilt)."""
    current = combo.currentData()
    keep = current.id if isinstance(current, SavedStrategy) else None
    combo.blockSignals(True)
    combo.clear()
    for saved in strategies:
        combo.addItem(saved.name, saved)
    combo.blockSignals(False)
    index = strategy_index(combo, keep) if keep is not None else -1
    combo.setCurrentIndex(index if index >= 0 else (0 if strategies else -1))
    changed(combo.currentIndex())


def muted(label: QLabel) -> QLabel:
    """Secondary text (captions, "updated at"): the palette's placeholder colour, readable in both themes and
    following a theme switch (the palette's "mid" is a border shade, nearly invisible on the dark background)."""
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


def went_wrong(exc: BaseException) -> str:
    """The one line a panel shows for a failure it did not expect: never a driver's text (the log has the rest)."""
    return f"Something went wrong: {trader_message(exc)}"
