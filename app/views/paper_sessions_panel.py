"""The Sessions panel: start a saved strategy as a PAPER session on live bars, watch its signals, stop it.

Everything that touches the database or the manager goes through the runner's worker threads (a start checks
the strategy and inserts rows; a stop waits for the session's thread). The manager reports from its own
threads (a session's worker, the caller of start/stop); its events are re-emitted as a queued Qt signal and
handled here on the GUI thread. A failed session shows its message (naming the strategy line) in the panel,
with the strategy's trace and printed output behind Details.

Sessions left RUNNING by an app that closed or crashed are marked STOPPED (with the reason) when the panel
first loads: ``PaperSessionManager.stop_orphans``, which leaves alone sessions another running app still serves.
"""

from __future__ import annotations

import logging
import re
import traceback
import uuid
from collections.abc import Coroutine
from decimal import Decimal, InvalidOperation
from typing import Any

import shiboken6
from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QSplitter,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.async_runner import BlockingRunner
from app.models.paper_sessions_model import PaperSessionsModel, SignalsModel
from app.views.panel_widgets import choose_strategy, named_button, refill_strategies, row_table, went_wrong
from app.views.params_form import ParamsForm
from core.domain.timeframes import Timeframe
from core.paper.manager import PaperSessionManager
from core.paper.types import (
    PaperSessionChanged,
    PaperSessionError,
    PaperSessionEvent,
    PaperSessionFailed,
    PaperSessionInfo,
    SignalInfo,
    SignalRecorded,
)
from core.services.strategy_drafts import StrategyDrafts
from core.strategy.declared_params import declared_params
from core.strategy.library import SavedStrategy

log = logging.getLogger(__name__)

TIMEFRAMES = tuple(Timeframe)
SIGNALS_SHOWN = 200
_SEPARATORS = re.compile(r"[\s,;]+")
_BAD = Decimal("NaN")  # a capital that is not an amount (the manager itself refuses zero, negative, too much)


class PaperSessionsPanel(QWidget):
    """Emits ``signalRecorded(SignalInfo)`` for every signal any of the trader's paper sessions records (chart
    markers) and ``sessionChanged(PaperSessionInfo)`` whenever one starts, moves, stops or fails; both on the GUI
    thread."""

    signalRecorded = Signal(object)
    sessionChanged = Signal(object)
    _eventArrived = Signal(object)  # from the manager's threads, queued to the GUI thread

    def __init__(
        self,
        manager: PaperSessionManager,
        strategies: StrategyDrafts,
        user_id: uuid.UUID,
        runner: BlockingRunner,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("sessionsPanel")
        self._manager = manager
        self._strategies = strategies  # the saved strategies a session can run
        self._user_id = user_id
        self._runner = runner
        self._orphans_checked = False
        self._starting = False
        self._signals_of: uuid.UUID | None = None

        self._build_form()
        self.sessions_model = PaperSessionsModel(self)
        self.sessions_table = _table("sessionsTable", self.sessions_model)
        self.sessions_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.sessions_table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.stop_button = _button("Stop", "stopButton", self._stop_clicked)
        self.stop_button.setEnabled(False)
        self.refresh_button = _button("Refresh", "refreshButton", self.reload)
        self.signals_model = SignalsModel(self)
        self.signals_table = _table("signalsTable", self.signals_model)
        self.session_error_box, self.session_error_label, self.session_details_button, self.session_details = (
            _error_box("session")
        )
        self.signals_title = QLabel("Signals of the selected session", objectName="signalsTitle")
        # A refusal repeated on every bar, said once with the limit to change (core.paper.rejections).
        self.rejection_summary = QLabel("", objectName="rejectionSummary")
        self.rejection_summary.setWordWrap(True)
        self.rejection_summary.hide()

        sessions_buttons = QHBoxLayout()
        sessions_buttons.addWidget(self.stop_button)
        sessions_buttons.addWidget(self.refresh_button)
        sessions_buttons.addStretch(1)
        right = QSplitter(Qt.Orientation.Vertical)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.sessions_table, 1)
        top_layout.addLayout(sessions_buttons)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self.session_error_box)
        bottom_layout.addWidget(self.signals_title)
        bottom_layout.addWidget(self.rejection_summary)
        bottom_layout.addWidget(self.signals_table, 1)
        right.addWidget(top)
        right.addWidget(bottom)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._form_area)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self._eventArrived.connect(self._on_event)
        panel = self

        def from_manager(event: PaperSessionEvent) -> None:
            if shiboken6.isValid(panel):
                panel._eventArrived.emit(event)

        self._listener = from_manager
        manager.add_listener(from_manager)
        self.destroyed.connect(lambda *_: manager.remove_listener(from_manager))
        self.reload()

    def _build_form(self) -> None:
        self.strategy_combo = QComboBox(objectName="strategyCombo")
        self.strategy_combo.setPlaceholderText("no saved strategies yet")
        self.strategy_combo.currentIndexChanged.connect(self._strategy_changed)
        self.class_combo = QComboBox(objectName="classCombo")
        self.class_combo.currentIndexChanged.connect(self._class_changed)
        self.symbols_edit = QLineEdit(objectName="symbolsEdit", placeholderText="e.g. SPY, QQQ")
        self.symbols_edit.textEdited.connect(self._upper_case)
        self.symbols_edit.returnPressed.connect(self._start_clicked)
        self.timeframe_combo = QComboBox(objectName="timeframeCombo")
        self.timeframe_combo.addItems(TIMEFRAMES)
        self.capital_edit = QLineEdit(objectName="capitalEdit", placeholderText="your unclaimed buying power")
        self.capital_edit.setToolTip(
            "The money this session trades with: its strategy sees only this capital and its own fills, never "
            "shares bought by hand or by another session. Empty: the buying power no running session holds."
        )
        self.capital_edit.returnPressed.connect(self._start_clicked)
        self.params_form = ParamsForm()
        self.start_button = _button("Start paper session", "startButton", self._start_clicked)
        self.start_button.setDefault(True)
        self.status_label = QLabel(objectName="statusLabel", wordWrap=True)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_box, self.error_label, self.details_button, self.error_details = _error_box("")

        form = QFormLayout()
        form.addRow("Strategy", self.strategy_combo)
        form.addRow("Class", self.class_combo)
        form.addRow("Symbols", self.symbols_edit)
        form.addRow("Timeframe", self.timeframe_combo)
        form.addRow("Capital", self.capital_edit)
        params_box = QGroupBox("Parameters")
        params_layout = QVBoxLayout(params_box)
        params_layout.addWidget(self.params_form)
        inner = QWidget()
        column = QVBoxLayout(inner)
        column.addLayout(form)
        column.addWidget(params_box)
        column.addWidget(self.start_button)
        column.addWidget(self.status_label)
        column.addWidget(self.error_box)
        column.addStretch(1)
        self._form_area = QScrollArea(objectName="sessionForm", widgetResizable=True)
        self._form_area.setWidget(inner)

    # --- public ---
    def detach(self) -> None:
        """Stop listening to the manager (the window is closing; the manager may outlive the panel a moment)."""
        self._manager.remove_listener(self._listener)

    def reload(self) -> None:
        """Reload the strategy list and the sessions (on worker threads)."""
        self._spawn(self._reload(), "sessions-reload")

    def set_strategy(self, saved: SavedStrategy) -> None:
        """Preselect ``saved`` (added to the list if new; its newest version replaces an older one)."""
        choose_strategy(self.strategy_combo, saved, self._strategy_changed)

    def selected_strategy(self) -> SavedStrategy | None:
        data = self.strategy_combo.currentData()
        return data if isinstance(data, SavedStrategy) else None

    def selected_session(self) -> PaperSessionInfo | None:
        rows = self.sessions_table.selectionModel().selectedRows()
        return self.sessions_model.record_at(rows[0].row()) if rows else None

    def select_session(self, session_id: uuid.UUID) -> None:
        row = self.sessions_model.row_of(session_id)
        if row >= 0:
            self.sessions_table.selectRow(row)

    def show_error(self, message: str, details: str = "") -> None:
        """Show ``message`` under the Start button (empty hides it); ``details`` behind its Details button."""
        _show(self.error_box, self.error_label, self.details_button, self.error_details, message, details)

    # --- starting and stopping ---
    def _start_clicked(self) -> None:
        if self._starting:
            return
        saved = self.selected_strategy()
        if saved is None:
            self.show_error("Choose a saved strategy (save one in the strategy editor first).")
            return
        symbols = [s for s in _SEPARATORS.split(self.symbols_edit.text().strip().upper()) if s]
        if not symbols:
            self.show_error("Enter a symbol (several: separate them with commas).")
            return
        capital = _capital(self.capital_edit.text())
        if capital is _BAD:
            self.show_error("Enter the capital as an amount (e.g. 25000), or leave it empty.")
            return
        request = {
            "strategy_id": saved.id, "symbols": symbols, "timeframe": self.timeframe_combo.currentText(),
            "params": self.params_form.values(), "class_name": self.class_combo.currentText() or None,
            "capital": capital,
        }  # fmt: skip
        self.show_error("")
        self._set_starting(True)
        self.status_label.setText(f"Starting {saved.name} on {', '.join(symbols)}…")
        self._spawn(self._start(saved.name, request), "sessions-start")

    async def _start(self, name: str, request: dict[str, Any]) -> None:
        try:
            info = await self._runner.call(
                self._manager.start, self._user_id, request["strategy_id"], request["symbols"],
                request["timeframe"], request["params"], class_name=request["class_name"], capital=request["capital"],
            )  # fmt: skip
        except PaperSessionError as exc:
            if self._alive():
                self.status_label.setText("")
                self.show_error(str(exc))
            return
        finally:
            if self._alive():
                self._set_starting(False)
        if not self._alive():
            return
        # The manager's events may have overtaken this reply (the session can even have failed already): what
        # the table shows is then newer than `info`, and the reply must not bring back a running state.
        row = self.sessions_model.row_of(info.id)
        current = self.sessions_model.record_at(row) if row >= 0 else info
        if row < 0:
            self._show_session(info)
        if current.active:
            self.status_label.setText(f"{name} is running on {', '.join(info.symbols)} {info.timeframe} (paper).")
        self.select_session(info.id)

    def _stop_clicked(self) -> None:
        info = self.selected_session()
        if info is None or not info.active:
            return
        self.stop_button.setEnabled(False)
        self.status_label.setText(f"Stopping {info.strategy_name}…")
        self._spawn(self._stop(info), "sessions-stop")

    async def _stop(self, info: PaperSessionInfo) -> None:
        stopped = await self._runner.call(self._manager.stop, info.id, self._user_id)
        if self._alive():
            self.status_label.setText(f"{stopped.strategy_name} stopped.")
            self._show_session(stopped)

    # --- loading ---
    async def _reload(self) -> None:
        if not self._orphans_checked:
            self._orphans_checked = True
            await self._runner.call(self._manager.stop_orphans, self._user_id)
        strategies = await self._runner.call(self._strategies.list, self._user_id)
        sessions = await self._runner.call(self._manager.list, self._user_id)
        if not self._alive():
            return
        self._set_strategies(strategies)
        selected = self.selected_session()
        self.sessions_model.set_records(sessions)
        self.sessions_table.resizeColumnsToContents()
        if selected is not None:
            self.select_session(selected.id)
        self._refresh_selection()

    async def _load_signals(self, session_id: uuid.UUID) -> None:
        signals = await self._runner.call(self._manager.signals, session_id, self._user_id, SIGNALS_SHOWN)
        if self._alive() and self._signals_of == session_id:
            # Signals that arrived as events while this was loading are newer than the load: keep them on top.
            loaded = {s.id for s in signals}
            newer = [s for s in self.signals_model.records() if s.id not in loaded]
            self.signals_model.set_records(newer + signals)
            if newer + signals:
                self._show_repeat((newer + signals)[0])
            self.signals_table.resizeColumnsToContents()

    def _set_strategies(self, strategies: list[SavedStrategy]) -> None:
        refill_strategies(self.strategy_combo, strategies, self._strategy_changed)

    def _strategy_changed(self, _index: int) -> None:
        saved = self.selected_strategy()
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        if saved is not None:
            self.class_combo.addItems(list(saved.classes))
        self.class_combo.blockSignals(False)
        self._class_changed(self.class_combo.currentIndex())

    def _class_changed(self, _index: int) -> None:
        saved, class_name = self.selected_strategy(), self.class_combo.currentText()
        if saved is None or not class_name:
            self.params_form.set_params([])
            return
        try:
            params = declared_params(saved.python_code, class_name)
        except (SyntaxError, ValueError) as exc:
            self.params_form.set_params([])
            self.show_error(f"The parameters of {class_name} cannot be read: {exc}")
            return
        self.params_form.set_params(params, saved.parameters)

    # --- the sessions table ---
    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._refresh_selection()

    def _refresh_selection(self) -> None:
        info = self.selected_session()
        self.stop_button.setEnabled(info is not None and info.active)
        if info is None:
            self._signals_of = None
            self.signals_model.set_records([])
            self.rejection_summary.hide()
            self.signals_title.setText("Signals of the selected session")
            _show(self.session_error_box, self.session_error_label, self.session_details_button,
                  self.session_details, "", "")  # fmt: skip
            return
        self.signals_title.setText(f"Signals of {info.strategy_name} ({', '.join(info.symbols)})")
        self._show_failure(info)
        if self._signals_of != info.id:
            self._signals_of = info.id
            self.signals_model.set_records([])
            self.rejection_summary.hide()
            self._spawn(self._load_signals(info.id), "sessions-signals")

    def _show_failure(self, info: PaperSessionInfo) -> None:
        message = f"This session failed: {info.error_message}" if info.status == "FAILED" else ""
        _show(self.session_error_box, self.session_error_label, self.session_details_button, self.session_details,
              message, info.details)  # fmt: skip

    def _show_session(self, info: PaperSessionInfo) -> None:
        # The model keeps the newest report: a late, older one (the answer to Start arriving after the session
        # already failed) must not hide the failure either, so the box shows what the model shows.
        row = self.sessions_model.upsert(info)
        self.sessions_table.resizeColumnsToContents()
        shown = self.sessions_model.record_at(row)
        selected = self.selected_session()
        if selected is not None and selected.id == shown.id:
            self.stop_button.setEnabled(shown.active)
            self._show_failure(shown)

    # --- manager events (GUI thread) ---
    def _on_event(self, event: PaperSessionEvent) -> None:
        if isinstance(event, SignalRecorded):
            self._signal_recorded(event.signal)
        elif isinstance(event, PaperSessionChanged | PaperSessionFailed):
            if event.session.user_id != self._user_id:
                return
            self._show_session(event.session)
            if isinstance(event, PaperSessionFailed):
                self.status_label.setText(f"{event.session.strategy_name} failed.")
            self.sessionChanged.emit(event.session)

    def _signal_recorded(self, signal: SignalInfo) -> None:
        if self.sessions_model.row_of(signal.session_id) < 0:
            return  # not one of this trader's sessions
        if signal.session_id == self._signals_of:
            self.signals_model.upsert(signal)
            self.signals_table.resizeColumnsToContents()
            self._show_repeat(signal)
        self.signalRecorded.emit(signal)

    def _show_repeat(self, signal: SignalInfo) -> None:
        """Above the list: the latest run of refusals (its reason names the limit and the count) until an order goes
        through."""
        if signal.status == "REJECTED" and signal.metadata.get("repeated"):
            self.rejection_summary.setText(f"{signal.symbol} {signal.action} refused: {signal.reason}")
            self.rejection_summary.show()
        elif signal.status == "EXECUTED":
            self.rejection_summary.hide()

    # --- helpers ---
    def _set_starting(self, starting: bool) -> None:
        self._starting = starting
        self.start_button.setEnabled(not starting)

    def _upper_case(self, text: str) -> None:
        if text != text.upper():
            position = self.symbols_edit.cursorPosition()
            self.symbols_edit.setText(text.upper())
            self.symbols_edit.setCursorPosition(position)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._runner.spawn(self._guard(coro), name=name)

    async def _guard(self, coro: Coroutine[Any, Any, None]) -> None:
        """A manager's refusal shows its own message; anything unexpected a short line with the trace as details."""
        try:
            await coro
        except PaperSessionError as exc:
            if self._alive():
                self.show_error(str(exc))
                self._refresh_selection()
        except Exception as exc:
            log.exception("sessions panel call failed")
            if self._alive():
                self.show_error(went_wrong(exc), traceback.format_exc())

    def _alive(self) -> bool:
        return shiboken6.isValid(self)


def _capital(text: str) -> Decimal | None:
    """The typed capital: None when empty (the manager's default), ``_BAD`` when not an amount."""
    cleaned = text.strip().replace(",", "").replace("$", "")
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return _BAD
    return value if value.is_finite() else _BAD


def _error_box(prefix: str) -> tuple[QFrame, QLabel, QToolButton, QPlainTextEdit]:
    """A red message with a Details toggle; object names ``<prefix>ErrorBox`` etc. (``errorBox`` without one)."""

    def name(base: str) -> str:
        return f"{prefix}{base[0].upper()}{base[1:]}" if prefix else base

    box = QFrame(objectName=name("errorBox"), frameShape=QFrame.Shape.StyledPanel)
    label = QLabel(objectName=name("errorLabel"), wordWrap=True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setStyleSheet("color: #d32f2f;")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    details_button = QToolButton(objectName=name("detailsButton"), text="Details", checkable=True)
    details = QPlainTextEdit(objectName=name("errorDetails"), readOnly=True)
    details.setVisible(False)
    details_button.toggled.connect(details.setVisible)
    top = QHBoxLayout()
    top.addWidget(label, 1)
    top.addWidget(details_button, 0, Qt.AlignmentFlag.AlignTop)
    layout = QVBoxLayout(box)
    layout.addLayout(top)
    layout.addWidget(details)
    box.setVisible(False)
    return box, label, details_button, details


def _show(box: QFrame, label: QLabel, button: QToolButton, details: QPlainTextEdit, message: str, more: str) -> None:
    box.setVisible(bool(message))
    label.setText(message)
    details.setPlainText(more)
    button.setVisible(bool(more))
    button.setChecked(False)


_button = named_button


def _table(name: str, model: Any) -> QTableView:
    view = row_table(name, model)
    view.setWordWrap(False)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    view.horizontalHeader().setStretchLastSection(True)
    view.verticalHeader().setVisible(False)
    return view
