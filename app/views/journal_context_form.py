"""The decision-context form of the selected fill: why the trader made it, the exit they planned, how they felt
then and feel now, notes, the strategy behind it; and the behavioural checks recorded for it.

The hypothesis, the planned exit and the feelings at the time record what the trader thought *when they
traded*. ``core.journal.contexts`` lets each be written once while empty and never rewritten (a plan edited
after the outcome would make every plan-versus-trade check meaningless), so the form shows a set one read-only
and says why, instead of letting the trader type into a field whose save is bound to be refused.

What the form loads and saves (on a worker thread) is ``Journal.fill_detail`` and ``Journal.save_context``
(``core.services.journal``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.display_time import display_time
from app.models.journal_models import CONTEXT_LABELS, FillChecksModel
from app.models.positions_model import format_money, format_qty, format_time
from app.views.panel_widgets import muted, named_button, row_table
from core.domain.display_time import DisplayZone, format_minute
from core.journal import DecisionContextView, JournalFillRow
from core.services.journal import ContextInput, FillDetail
from core.strategy.library import SavedStrategy

NO_CONFIDENCE = "—"
CONFIDENCE = (NO_CONFIDENCE, "1", "2", "3", "4", "5")
READ_ONLY_STYLE = "background: palette(window);"
THEN_NOTE = (
    "Greyed fields record what you thought when you traded: once written they are kept as they were, so the "
    "checks can compare the trade with its plan. Add to the notes or to how you feel now instead."
)
THEN_TIP = "Written when you traded; it cannot be changed any more."
NO_FILL = "Select a fill to write down why you made it."


def _plain(value: Decimal | None) -> str:
    return "" if value is None else format(value.normalize(), "f")


class FeelingsEdit(QWidget):
    """Feelings as the journal stores them: ``{"confidence": 1..5, "emotions": [...]}``. Keys written elsewhere
    are kept (and shown in the tooltip) so saving the form never drops them."""

    changed = Signal()

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.confidence = QComboBox(objectName=f"{name}Confidence")
        self.confidence.addItems(CONFIDENCE)
        self.confidence.setToolTip("Confidence, 1 (none) to 5 (complete)")
        self.emotions = QLineEdit(objectName=f"{name}Emotions", placeholderText="e.g. calm, patient, FOMO")
        self._extra: dict[str, Any] = {}
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Confidence"))
        layout.addWidget(self.confidence)
        layout.addWidget(self.emotions, 1)
        self.confidence.currentIndexChanged.connect(self.changed)
        self.emotions.textChanged.connect(self.changed)

    def set_value(self, value: Mapping[str, Any] | None) -> None:
        value = dict(value or {})
        confidence = str(value.pop("confidence", "") or "")
        emotions = value.pop("emotions", [])
        self.confidence.setCurrentIndex(max(self.confidence.findText(confidence), 0))
        self.emotions.setText(", ".join(map(str, emotions)) if isinstance(emotions, list) else str(emotions))
        self._extra = value
        self.setToolTip("Also recorded: " + ", ".join(f"{k}: {v}" for k, v in value.items()) if value else "")

    def value(self) -> dict[str, Any] | None:
        out = dict(self._extra)
        if self.confidence.currentIndex() > 0:
            out["confidence"] = int(self.confidence.currentText())
        emotions = [e.strip() for e in self.emotions.text().split(",") if e.strip()]
        if emotions:
            out["emotions"] = emotions
        return out or None

    def set_read_only(self, read_only: bool) -> None:
        self.confidence.setEnabled(not read_only)
        self.emotions.setReadOnly(read_only)
        self.emotions.setStyleSheet(READ_ONLY_STYLE if read_only else "")
        self.emotions.setToolTip(THEN_TIP if read_only else "")


class ContextForm(QWidget):
    """``saveRequested`` when the trader clicks Save; the tab saves ``values()`` for ``fill_id``/``context_id``."""

    saveRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("contextForm")
        self._fill: JournalFillRow | None = None
        self._context: DecisionContextView | None = None
        self._loading = False
        self._dirty = False
        self._read_only: set[str] = set()
        self._display = display_time()
        self._exit_zone = self._display.zone  # the zone the exit time's text is written in

        self.title = QLabel(NO_FILL, objectName="contextTitle", wordWrap=True)
        self.title.setStyleSheet("font-weight: bold;")
        self.context_type = QComboBox(objectName="contextType")
        for value, label in CONTEXT_LABELS.items():
            self.context_type.addItem(label, value)
        self.hypothesis = QPlainTextEdit(objectName="contextHypothesis", placeholderText="Why did you take it?")
        self.hypothesis.setMaximumHeight(64)
        self.stop = QLineEdit(objectName="exitStop", placeholderText="stop")
        self.target = QLineEdit(objectName="exitTarget", placeholderText="target")
        self.exit_time = QLineEdit(objectName="exitTime", placeholderText=_exit_placeholder(self._exit_zone))
        self.exit_note = QLineEdit(objectName="exitNote", placeholderText="how you meant to get out")
        self.feelings_then = FeelingsEdit("feelingsThen")
        self.feelings_now = FeelingsEdit("feelingsNow")
        self.notes = QPlainTextEdit(objectName="contextNotes", placeholderText="What happened, what you learned")
        self.notes.setMaximumHeight(80)
        self.strategy = QComboBox(objectName="contextStrategy")
        self.strategy.addItem("— none —", None)
        self.then_note = QLabel(THEN_NOTE, objectName="thenFieldsNote", wordWrap=True)
        muted(self.then_note)
        self.then_note.hide()
        self.save_button = named_button("Save context", "saveContextButton", self.saveRequested.emit)
        self.checks_model = FillChecksModel(self)
        self._display.zoneChanged.connect(self._zone_changed)
        self.checks_table = row_table("fillChecksTable", self.checks_model)
        self.checks_table.setWordWrap(False)
        self.checks_table.verticalHeader().hide()
        self.checks_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.checks_table.horizontalHeader().setStretchLastSection(True)

        exit_row = QHBoxLayout()
        for edit in (self.stop, self.target, self.exit_time):
            exit_row.addWidget(edit)
        form = QFormLayout()
        form.addRow("Type", self.context_type)
        form.addRow("Hypothesis", self.hypothesis)
        form.addRow("Planned exit", exit_row)
        form.addRow("", self.exit_note)
        form.addRow("Feelings then", self.feelings_then)
        form.addRow("Feelings now", self.feelings_now)
        form.addRow("Notes", self.notes)
        form.addRow("Strategy", self.strategy)
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addLayout(form)
        layout.addWidget(self.then_note)
        layout.addLayout(buttons)
        layout.addWidget(QLabel("Checks recorded for this fill"))
        layout.addWidget(self.checks_table, 1)

        for edit in (self.stop, self.target, self.exit_time, self.exit_note):
            edit.textChanged.connect(self._edited)
        for text in (self.hypothesis, self.notes):
            text.textChanged.connect(self._edited)
        for combo in (self.context_type, self.strategy):
            combo.currentIndexChanged.connect(self._edited)
        self.feelings_then.changed.connect(self._edited)
        self.feelings_now.changed.connect(self._edited)
        self._set_enabled(False)

    # --- state ---
    @property
    def fill_id(self) -> uuid.UUID | None:
        return self._fill.fill.id if self._fill is not None else None

    @property
    def context_id(self) -> uuid.UUID | None:
        return self._context.id if self._context is not None else None

    @property
    def dirty(self) -> bool:
        """The trader changed something since the form was filled: a refresh must not overwrite it."""
        return self._dirty

    def read_only_fields(self) -> set[str]:
        return set(self._read_only)

    def set_strategies(self, strategies: list[SavedStrategy]) -> None:
        """The trader's strategies to link; the current choice is kept (a linked strategy not in the list, a
        club strategy or an archived one, stays as its own item)."""
        current = self.strategy.currentData()
        with _Quiet(self):
            self.strategy.clear()
            self.strategy.addItem("— none —", None)
            for saved in strategies:
                self.strategy.addItem(saved.name, saved.id)
            self._select_strategy(current)

    def set_fill(self, row: JournalFillRow | None) -> None:
        """Show ``row`` (its detail still loading: the form is disabled until ``set_detail``), or nothing."""
        self._fill, self._context = row, None
        self._populate(None, "entry")
        self.checks_model.set_rows([])
        self._set_enabled(False)
        if row is None:
            self.title.setText(NO_FILL)
            return
        self._show_title()

    def _show_title(self) -> None:
        if self._fill is None:
            return
        f, zone = self._fill.fill, self._display.zone
        self.title.setText(
            f"{f.side.capitalize()} {format_qty(f.quantity)} {f.symbol} @ {format_money(f.price)} "
            f"on {format_time(f.executed_at, zone)} {zone.label} ({f.source})"
        )

    def _zone_changed(self, zone: DisplayZone) -> None:
        """Say the fill's time and the planned exit time in the new zone; a typed exit time keeps its instant."""
        self._show_title()
        text = self.exit_time.text().strip()
        moved = _exit_time_in(text, self._exit_zone)
        self._exit_zone = zone
        self.exit_time.setPlaceholderText(_exit_placeholder(zone))
        if moved is not None:
            with _Quiet(self):
                self.exit_time.setText(format_minute(moved, zone))

    def set_detail(self, detail: FillDetail) -> None:
        """The fill's stored context and checks. Unsaved edits are kept (only the checks, and the context the
        form will update, change under them)."""
        if detail.fill_id != self.fill_id:
            return
        self.checks_model.set_rows(detail.checks)
        if self._dirty:
            if self._context is None:
                self._context = detail.context
            return
        self._context = detail.context
        self._populate(detail.context, detail.suggested_type)
        self._set_enabled(True)

    def set_saved(self, view: DecisionContextView) -> None:
        if view.fill_id != self.fill_id:
            return
        self._context = view
        self._populate(view, view.context_type)
        self._set_enabled(True)

    def values(self) -> ContextInput:
        """What to save. Empty editable fields clear; "then" fields go only where they may still be written."""
        exit_parts = {"stop": self.stop.text(), "target": self.target.text(),
                      "time": _exit_time_text(self.exit_time.text(), self._exit_zone),
                      "note": self.exit_note.text()}  # fmt: skip
        exit_intent = {k: v.strip() for k, v in exit_parts.items() if v.strip()} or None
        return ContextInput(
            context_type=self.context_type.currentData(),
            notes=self.notes.toPlainText().strip() or None,
            feelings_now=self.feelings_now.value(),
            strategy_id=self.strategy.currentData(),
            hypothesis=None if "hypothesis" in self._read_only else (self.hypothesis.toPlainText().strip() or None),
            exit_intent=None if "exit_intent" in self._read_only else exit_intent,
            feelings_then=None if "feelings_then" in self._read_only else self.feelings_then.value(),
        )

    # --- filling in ---
    def _populate(self, view: DecisionContextView | None, context_type: str) -> None:
        with _Quiet(self):
            index = self.context_type.findData(view.context_type if view else context_type)
            self.context_type.setCurrentIndex(max(index, 0))
            self.hypothesis.setPlainText((view.hypothesis or "") if view else "")
            intent = view.exit_intent if view else None
            self.stop.setText(_plain(intent.stop) if intent else "")
            self.target.setText(_plain(intent.target) if intent else "")
            self._exit_zone = self._display.zone
            self.exit_time.setText(format_minute(intent.time, self._exit_zone) if intent and intent.time else "")
            self.exit_note.setText((intent.note or "") if intent else "")
            self.feelings_then.set_value(view.feelings_then if view else None)
            self.feelings_now.set_value(view.feelings_now if view else None)
            self.notes.setPlainText((view.notes or "") if view else "")
            self._select_strategy(view.strategy_id if view else None)
        self._read_only = set()
        if view is not None:
            fields = {"hypothesis": view.hypothesis, "exit_intent": view.exit_intent,
                      "feelings_then": view.feelings_then}  # fmt: skip
            self._read_only = {name for name, value in fields.items() if value}
        self._apply_read_only()
        self._dirty = False

    def _apply_read_only(self) -> None:
        locked = self._read_only
        self.hypothesis.setReadOnly("hypothesis" in locked)
        self.hypothesis.setStyleSheet(READ_ONLY_STYLE if "hypothesis" in locked else "")
        self.hypothesis.setToolTip(THEN_TIP if "hypothesis" in locked else "")
        for edit in (self.stop, self.target, self.exit_time, self.exit_note):
            edit.setReadOnly("exit_intent" in locked)
            edit.setStyleSheet(READ_ONLY_STYLE if "exit_intent" in locked else "")
            edit.setToolTip(THEN_TIP if "exit_intent" in locked else "")
        self.feelings_then.set_read_only("feelings_then" in locked)
        self.then_note.setVisible(bool(locked))

    def strategy_index(self, strategy_id: uuid.UUID | None) -> int:
        """The combo row of ``strategy_id`` (-1: not listed). Compared in Python: ``findData`` does not compare
        wrapped Python objects such as UUIDs by value."""
        return next((i for i in range(self.strategy.count()) if self.strategy.itemData(i) == strategy_id), -1)

    def _select_strategy(self, strategy_id: uuid.UUID | None) -> None:
        index = self.strategy_index(strategy_id)
        if index < 0:
            self.strategy.addItem("(linked strategy: not one of yours, or archived)", strategy_id)
            index = self.strategy.count() - 1
        self.strategy.setCurrentIndex(index)

    def _set_enabled(self, enabled: bool) -> None:
        for widget in (self.context_type, self.hypothesis, self.stop, self.target, self.exit_time, self.exit_note,
                       self.feelings_then, self.feelings_now, self.notes, self.strategy, self.save_button):  # fmt: skip
            widget.setEnabled(enabled)

    def _edited(self, *_: object) -> None:
        if not self._loading:
            self._dirty = True


def _exit_placeholder(zone: DisplayZone) -> str:
    return f"by YYYY-MM-DD HH:MM ({zone.label})"


def _exit_time_in(text: str, zone: DisplayZone) -> datetime | None:
    """A typed exit time as an aware instant: a time without an offset is read in `zone` (the one the form shows
    times in); None for empty or unreadable text."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone.tzinfo)


def _exit_time_text(text: str, zone: DisplayZone) -> str:
    """What the journal is given: the typed time with its offset made explicit (the journal takes a time without
    one as UTC), or the text unchanged for the journal to refuse with its own message."""
    at = _exit_time_in(text.strip(), zone)
    return text if at is None else at.isoformat()


class _Quiet:
    """Filling the form in is not the trader editing it."""

    def __init__(self, form: ContextForm) -> None:
        self._form = form

    def __enter__(self) -> None:
        self._was = self._form._loading
        self._form._loading = True

    def __exit__(self, *_: object) -> None:
        self._form._loading = self._was


__all__ = ["ContextForm", "FeelingsEdit"]
