"""A form for a strategy's declared parameters: one input per ``Param``, its range applied.

The declarations come from :func:`core.strategy.declared_params.declared_params` (read from the syntax
tree: the trader's code never runs in the application). Each input is built so that it can only hold
a value the run would accept: whole numbers in a spin box, numbers in a double spin box, choices in a
combo box, true/false as a check box, text in a line edit, all with min/max applied. A declaration
that cannot be read (computed arguments) is shown with the reason instead of an input.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from core.services.strategy_drafts import accepted_value
from core.strategy.declared_params import DeclaredParam

INT_LIMIT = 2**31 - 1  # QSpinBox holds a C int
FLOAT_LIMIT = 1e15
MAX_DECIMALS = 8


class ParamsForm(QWidget):
    """Inputs named ``param_<name>``; ``values()`` returns the editable parameters' current values."""

    valuesChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("paramsForm")
        self._layout = QFormLayout(self)
        self._params: list[DeclaredParam] = []
        self._editors: dict[str, QWidget] = {}
        self._empty = QLabel("This strategy declares no parameters.")
        self._empty.setObjectName("paramsEmpty")
        self._empty.setWordWrap(True)
        self._layout.addRow(self._empty)

    # --- building ---
    def set_params(self, params: list[DeclaredParam], values: dict[str, Any] | None = None) -> None:
        """Rebuild the form for ``params``; a value in ``values`` that the parameter accepts replaces its
        default (saved values, or the trader's edits kept across a code change)."""
        values = values or {}
        while self._layout.rowCount() > 1:
            self._layout.removeRow(1)
        self._params = list(params)
        self._editors = {}
        self._empty.setVisible(not params)
        for param in params:
            label = QLabel(param.name)
            label.setToolTip(param.doc)
            if not param.editable:
                note = QLabel(f"not editable here: {param.reason}")
                note.setObjectName(f"param_{param.name}")
                note.setWordWrap(True)
                note.setEnabled(False)
                self._layout.addRow(label, note)
                continue
            editor = self._editor_for(param, accepted_value(param, values.get(param.name, param.default)))
            editor.setObjectName(f"param_{param.name}")
            editor.setToolTip(param.doc or _range_text(param))
            self._editors[param.name] = editor
            self._layout.addRow(label, editor)

    def _editor_for(self, param: DeclaredParam, value: Any) -> QWidget:
        if param.choices is not None:
            combo = QComboBox()
            for choice in param.choices:
                combo.addItem(str(choice), choice)
            combo.setCurrentIndex(list(param.choices).index(value) if value in param.choices else 0)
            combo.currentIndexChanged.connect(self.valuesChanged)
            return combo
        if param.kind is bool:
            check = QCheckBox()
            check.setChecked(bool(value))
            check.toggled.connect(self.valuesChanged)
            return check
        if param.kind is int:
            spin = QSpinBox()
            low = -INT_LIMIT if param.min is None else max(-INT_LIMIT, math.ceil(param.min))
            high = INT_LIMIT if param.max is None else min(INT_LIMIT, math.floor(param.max))
            spin.setRange(low, high)
            spin.setSingleStep(max(1, int(param.step or 1)))
            spin.setValue(int(value))
            spin.valueChanged.connect(self.valuesChanged)
            return spin
        if param.kind is float:
            double = QDoubleSpinBox()
            double.setDecimals(_decimals(param))
            low = -FLOAT_LIMIT if param.min is None else max(-FLOAT_LIMIT, float(param.min))
            high = FLOAT_LIMIT if param.max is None else min(FLOAT_LIMIT, float(param.max))
            double.setRange(low, high)
            double.setSingleStep(_float_step(param, double.decimals()))
            double.setValue(float(value))
            double.valueChanged.connect(self.valuesChanged)
            return double
        line = QLineEdit(str(value))
        line.textChanged.connect(self.valuesChanged)
        return line

    # --- reading ---
    def params(self) -> list[DeclaredParam]:
        return list(self._params)

    def editor(self, name: str) -> QWidget | None:
        """The input of parameter ``name`` (None when it is not editable or not declared)."""
        return self._editors.get(name)

    def values(self) -> dict[str, Any]:
        """Every editable parameter's current value, typed as its default (what a run would receive)."""
        out: dict[str, Any] = {}
        for param in self._params:
            editor = self._editors.get(param.name)
            if isinstance(editor, QComboBox):
                out[param.name] = editor.currentData()
            elif isinstance(editor, QCheckBox):
                out[param.name] = editor.isChecked()
            elif isinstance(editor, QSpinBox | QDoubleSpinBox):
                out[param.name] = editor.value()
            elif isinstance(editor, QLineEdit):
                out[param.name] = editor.text()
        return out

    def changed_values(self) -> dict[str, Any]:
        """The values the trader changed from their declared defaults (kept when the code changes, so a
        new default in the code shows while a deliberate choice survives)."""
        defaults = {p.name: p.default for p in self._params}
        return {name: value for name, value in self.values().items() if value != defaults.get(name)}


def _decimals(param: DeclaredParam) -> int:
    """Enough decimals to show every number the declaration mentions (at least 2)."""
    places = 2
    for number in (param.default, param.min, param.max, param.step):
        if isinstance(number, float) and number == number:
            text = f"{number:.{MAX_DECIMALS}f}".rstrip("0")
            places = max(places, len(text.split(".")[1]) if "." in text else 0)
    return min(places, MAX_DECIMALS)


def _float_step(param: DeclaredParam, decimals: int) -> float:
    if param.step:
        return float(param.step)
    smallest = 10.0**-decimals
    if param.min is not None and param.max is not None and param.max > param.min:
        return max(smallest, round((param.max - param.min) / 100, decimals))
    return max(smallest, 0.1)


def _range_text(param: DeclaredParam) -> str:
    low = "" if param.min is None else f"from {param.min:g}"
    high = "" if param.max is None else f"to {param.max:g}"
    return " ".join(part for part in (low, high) if part)
