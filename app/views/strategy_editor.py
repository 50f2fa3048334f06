"""The Strategy editor panel: write, check, save and version a strategy; hand it to the backtest panel.

Every library call (list, load, save, versions, archive) and every source check goes through
``core.services.strategy_drafts`` (the editor shows what it returns) and runs on the runner's
worker threads, so the GUI never waits on PostgreSQL or on parsing a long source. Results that arrive
after the trader has moved on (opened another strategy, typed more) are dropped by sequence numbers
instead of overwriting newer state.

Checking happens three ways, all showing problems at their lines without saving: live, 400 ms after
typing stops; on "Validate"; and on "Save", where the library's own refusal (StrategyRejected with
every problem, or LibraryError with a sentence for the trader) is shown in place, never only logged.

The parameters form is built from declarations read from the syntax tree (the code is untrusted and
only runs in the sandbox), and its values are saved as the strategy's parameters.

The "AI" side tab is an :class:`app.views.ai_assistant.AiAssistant` (Gemini: generate, change, explain; the
code's family from the same live check). What the trader takes from it arrives as an ``AiProposal``: a new
unsaved strategy, or the code replaced as one undoable edit. Nothing is saved until Save, and that save is
recorded as AI-sourced (``save_strategy(..., source="ai")``) with the proposal's symbols, timeframe and family.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Coroutine
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.async_runner import BlockingRunner
from app.display_time import shown_minute
from app.views.ai_assistant import AiAssistant, AiProposal, GeneratorFactory
from app.views.code_editor import CodeEditor, ProblemList
from app.views.params_form import ParamsForm
from core.services.strategy_drafts import (
    NO_CLASS_MESSAGE,
    SourceAnalysis,
    StrategyDrafts,
    analyse_source,
    resolved_values,
)
from core.strategy.library import NEW_STRATEGY_TEMPLATE, SavedStrategy, StrategyDraft, VersionInfo
from core.strategy.sandbox.validator import Problem

log = logging.getLogger(__name__)

LIVE_VALIDATION_MS = 400
__all__ = ["NEW_STRATEGY_TEMPLATE", "NO_CLASS_MESSAGE", "SourceAnalysis", "StrategyEditorPanel", "analyse_source"]


class StrategyEditorPanel(QWidget):
    """The trader's strategies, one open in the editor. Emits ``strategySaved(SavedStrategy)`` after a
    save, and ``backtestRequested(SavedStrategy)`` from "Backtest…" (the saved version, not unsaved edits).

    ``generator_factory`` builds the AI tab's Gemini generator (blocking, run on a worker thread; default:
    ``StrategyGenerator.from_secret_store``); tests pass one pointed at a stand-in. ``shutdown()`` (or closing
    or destroying the panel) closes that generator."""

    strategySaved = Signal(object)
    backtestRequested = Signal(object)

    def __init__(
        self,
        drafts: StrategyDrafts,
        user_id: uuid.UUID,
        runner: BlockingRunner,
        parent: QWidget | None = None,
        *,
        generator_factory: GeneratorFactory | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("strategyEditorPanel")
        self._drafts = drafts  # analysis and the library; this panel shows what they return
        self._user_id = user_id
        self._runner = runner
        self._generator_factory = generator_factory
        self._ai_origin: AiProposal | None = None  # the editor holds AI code: the next save is source="ai"
        self._current: SavedStrategy | None = None
        self._versions: list[VersionInfo] = []
        self._analysis: SourceAnalysis | None = None
        self._analysis_seq = 0  # bumped by every edit: an older analysis no longer describes the text
        self._open_seq = 0
        self._pending_values: dict[str, Any] | None = None  # saved parameter values for the next form build
        self._saving = False

        self.validation_timer = QTimer(self)
        self.validation_timer.setObjectName("liveValidationTimer")
        self.validation_timer.setSingleShot(True)
        self.validation_timer.setInterval(LIVE_VALIDATION_MS)
        self.validation_timer.timeout.connect(self._live_validate)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.setObjectName("editorSplitter")
        splitter.addWidget(self._build_library())
        splitter.addWidget(self._build_editor())
        splitter.addWidget(self._build_side())
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self.new_strategy()
        self.reload()

    # --- construction ---
    def _build_library(self) -> QWidget:
        box = QWidget()
        self.strategy_list = QListWidget()
        self.strategy_list.setObjectName("strategyList")
        self.strategy_list.currentItemChanged.connect(self._list_selection_changed)
        self.new_button = _button("newStrategyButton", "New", "Start a new strategy from a template")
        self.new_button.clicked.connect(self.new_strategy)
        self.archive_button = _button("archiveStrategyButton", "Archive", "Hide this strategy (its results are kept)")
        self.archive_button.clicked.connect(self.archive)
        buttons = QHBoxLayout()
        buttons.addWidget(self.new_button)
        buttons.addWidget(self.archive_button)
        layout = QVBoxLayout(box)
        layout.addWidget(QLabel("My strategies"))
        layout.addWidget(self.strategy_list)
        layout.addLayout(buttons)
        return box

    def _build_editor(self) -> QWidget:
        box = QWidget()
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("strategyName")
        self.name_edit.setPlaceholderText("strategy name")
        self.name_edit.textChanged.connect(self._update_dirty)
        self.class_label = QLabel("Class")
        self.class_combo = QComboBox()
        self.class_combo.setObjectName("strategyClass")
        self.class_combo.setToolTip("The code defines several strategy classes: the one whose parameters are shown")
        self.class_combo.currentIndexChanged.connect(self._class_chosen)
        self.validate_button = _button("validateButton", "Validate", "Check the code against the sandbox rules")
        self.validate_button.clicked.connect(lambda: self.validate(announce=True))  # not clicked's `checked`
        self.save_button = _button("saveButton", "Save", "Save a new version (Ctrl+S)")
        self.save_button.clicked.connect(self.save)
        self.backtest_button = _button("backtestButton", "Backtest…", "Backtest the saved version")
        self.backtest_button.clicked.connect(self._request_backtest)
        self.save_action = QAction("Save strategy", self)
        self.save_action.setObjectName("saveAction")
        self.save_action.setShortcut(QKeySequence.StandardKey.Save)
        self.save_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.save_action.triggered.connect(self.save)
        self.addAction(self.save_action)

        top = QHBoxLayout()
        top.addWidget(QLabel("Name"))
        top.addWidget(self.name_edit, 1)
        top.addWidget(self.class_label)
        top.addWidget(self.class_combo)
        top.addWidget(self.validate_button)
        top.addWidget(self.save_button)
        top.addWidget(self.backtest_button)

        self.editor = CodeEditor()
        self.editor.textChanged.connect(self._code_edited)
        self.problem_list = ProblemList(self.editor)
        self.problem_list.setMaximumHeight(110)
        self.dirty_label = QLabel()
        self.dirty_label.setObjectName("unsavedLabel")
        self.status_label = QLabel()
        self.status_label.setObjectName("editorStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label = QLabel()
        self.error_label.setObjectName("editorError")
        self.error_label.setStyleSheet("color: #d32f2f;")
        self.error_label.setWordWrap(True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        status = QHBoxLayout()
        status.addWidget(self.status_label, 1)
        status.addWidget(self.dirty_label)

        layout = QVBoxLayout(box)
        layout.addLayout(top)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.problem_list)
        layout.addWidget(self.error_label)
        layout.addLayout(status)
        return box

    def _build_side(self) -> QWidget:
        self.side_tabs = QTabWidget()
        self.side_tabs.setObjectName("editorSideTabs")

        details = QWidget()
        self.explanation_edit = QPlainTextEdit()
        self.explanation_edit.setObjectName("logicExplanation")
        self.explanation_edit.setPlaceholderText("In plain English: when does it buy, and when does it sell?")
        self.explanation_edit.textChanged.connect(self._update_dirty)
        self.change_note = QLineEdit()
        self.change_note.setObjectName("changeNote")
        self.change_note.setPlaceholderText("what changed in this version (optional)")
        self.params_form = ParamsForm()
        self.params_form.valuesChanged.connect(self._update_dirty)
        params_scroll = QScrollArea()
        params_scroll.setWidgetResizable(True)
        params_scroll.setWidget(self.params_form)
        form = QFormLayout(details)
        form.addRow(QLabel("Logic explanation"))
        form.addRow(self.explanation_edit)
        form.addRow("Change note", self.change_note)
        form.addRow(QLabel("Parameters"))
        form.addRow(params_scroll)
        self.side_tabs.addTab(details, "Details")

        history = QWidget()
        self.versions_list = QListWidget()
        self.versions_list.setObjectName("versionsList")
        self.versions_list.currentRowChanged.connect(self._version_selected)
        self.version_preview = CodeEditor()
        self.version_preview.setObjectName("versionPreview")
        self.version_preview.setReadOnly(True)
        self.restore_button = _button(
            "restoreVersionButton", "Restore into editor", "Put this version's code in the editor (Ctrl+Z undoes it)"
        )
        self.restore_button.clicked.connect(self.restore_selected_version)
        layout = QVBoxLayout(history)
        layout.addWidget(self.versions_list)
        layout.addWidget(self.version_preview, 2)
        layout.addWidget(self.restore_button)
        self.side_tabs.addTab(history, "Versions")

        self.ai = AiAssistant(self._runner, code=self.editor.toPlainText, generator_factory=self._generator_factory)
        self.ai.proposalAccepted.connect(self._take_proposal)
        self.prompt_edit = self.ai.prompt_edit
        self.generate_button = self.ai.generate_button
        self.side_tabs.addTab(self.ai, "AI")
        return self.side_tabs

    # --- state ---
    @property
    def current_strategy(self) -> SavedStrategy | None:
        """The strategy open in the editor as last saved (None: a new, never saved strategy)."""
        return self._current

    @property
    def analysis(self) -> SourceAnalysis | None:
        """The latest check of the editor's code."""
        return self._analysis

    @property
    def busy(self) -> bool:
        return self._saving

    def current_class(self) -> str | None:
        """The strategy class chosen for parameters (and for a backtest of a multi-class source)."""
        return self._analysis.chosen if self._analysis else None

    def is_dirty(self) -> bool:
        """Whether the editor differs from the saved strategy (always, for one never saved)."""
        current = self._current
        if current is None:
            return True
        saved_values = current.parameters
        analysis = self._analysis
        if analysis is not None and analysis.params is not None:
            # A parameter the saved strategy leaves out runs at its default: the form showing it is no change.
            saved_values = resolved_values(list(analysis.params), current.parameters)
        return (
            self.editor.toPlainText() != current.python_code
            or self.name_edit.text().strip() != current.name
            or self.explanation_edit.toPlainText() != (current.logic_explanation or "")
            or self.params_form.values() != saved_values
        )

    def _update_dirty(self) -> None:
        self.dirty_label.setText("unsaved changes" if self._current is not None and self.is_dirty() else "")

    def _update_actions(self) -> None:
        saved = self._current is not None
        self.save_button.setEnabled(not self._saving)
        self.save_action.setEnabled(not self._saving)
        self.archive_button.setEnabled(saved and not self._saving)
        self.backtest_button.setEnabled(saved and not self._saving)
        self.strategy_list.setEnabled(not self._saving)
        self.new_button.setEnabled(not self._saving)
        self.restore_button.setEnabled(self.versions_list.currentRow() >= 0)

    def _show_status(self, text: str) -> None:
        self.error_label.setText("")
        self.status_label.setText(text)

    def _show_error(self, text: str) -> None:
        self.status_label.setText("")
        self.error_label.setText(text)

    def _spawn(self, coro: Coroutine[Any, Any, None], failure: str) -> asyncio.Task[None] | None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the event loop has stopped (the app is closing): nothing to update any more
            coro.close()
            return None
        return self._runner.spawn(self._guard(coro, failure), name=f"strategy-editor: {failure}")

    async def _guard(self, coro: Coroutine[Any, Any, None], failure: str) -> None:
        """Shows an unexpected failure to the trader (and logs it) instead of losing it in a task."""
        try:
            await coro
        except Exception as exc:
            if not shiboken6.isValid(self):  # the panel was closed while the call ran
                return
            log.exception("%s", failure)
            self._show_error(f"{failure}: {_short(exc)}")

    # --- the list ---
    def reload(self) -> asyncio.Task[None] | None:
        """Refresh the list of the trader's strategies (on a worker thread)."""
        return self._spawn(self._refresh_list(), "Could not load your strategies")

    async def _refresh_list(self) -> None:
        strategies = await self._runner.call(self._drafts.list, self._user_id)
        if not shiboken6.isValid(self):
            return
        self.strategy_list.blockSignals(True)
        try:
            self.strategy_list.clear()
            for strategy in strategies:
                item = QListWidgetItem(strategy.name)
                item.setData(Qt.ItemDataRole.UserRole, strategy.id)
                item.setToolTip(f"version {strategy.version}")
                self.strategy_list.addItem(item)
                if self._current is not None and strategy.id == self._current.id:
                    self.strategy_list.setCurrentItem(item)
        finally:
            self.strategy_list.blockSignals(False)

    def listed_names(self) -> list[str]:
        return [self.strategy_list.item(i).text() for i in range(self.strategy_list.count())]

    def _list_selection_changed(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if item is None:
            return
        strategy_id = item.data(Qt.ItemDataRole.UserRole)
        if self._current is None or strategy_id != self._current.id:
            self.open_strategy(strategy_id)

    def open_strategy(self, strategy_id: uuid.UUID) -> asyncio.Task[None] | None:
        """Load a saved strategy and its versions into the panel."""
        self._open_seq += 1
        return self._spawn(self._open(strategy_id, self._open_seq), "Could not open the strategy")

    async def _open(self, strategy_id: uuid.UUID, seq: int) -> None:
        opened = await self._runner.call(self._drafts.open, self._user_id, strategy_id)
        saved, history = opened.strategy, opened.history
        if not shiboken6.isValid(self) or seq != self._open_seq:
            return  # the trader opened something else meanwhile
        self._current = saved
        self._ai_origin = None
        self.name_edit.setText(saved.name)
        self.editor.setPlainText(saved.python_code)
        self.explanation_edit.setPlainText(saved.logic_explanation or "")
        self.change_note.clear()
        self._show_versions(history)
        self._pending_values = dict(saved.parameters)
        self.editor.clear_problems()
        self._show_status(f"Opened “{saved.name}”, version {saved.version}.")
        self._update_actions()
        self.validate(announce=False)

    def new_strategy(self) -> None:
        """Start a new, unsaved strategy from a template (the list selection is cleared)."""
        self._start_new(NEW_STRATEGY_TEMPLATE)
        self._show_status("New strategy: name it, adapt the code, then Save.")

    def _start_new(
        self, code: str, name: str = "", explanation: str = "", values: dict[str, Any] | None = None
    ) -> None:
        self._open_seq += 1  # an open still running must not replace the new strategy
        self._current = None
        self._ai_origin = None
        self.strategy_list.blockSignals(True)
        self.strategy_list.setCurrentRow(-1)
        self.strategy_list.clearSelection()
        self.strategy_list.blockSignals(False)
        self.name_edit.setText(name)
        self.editor.setPlainText(code)
        self.explanation_edit.setPlainText(explanation)
        self.change_note.clear()
        self._show_versions([])
        self._pending_values = dict(values or {})
        self.editor.clear_problems()
        self._update_actions()
        self._update_dirty()
        self.validate(announce=False)

    # --- from the AI tab ---
    @property
    def ai_sourced(self) -> bool:
        """The editor holds code the AI tab put there: the next save is recorded as ``source="ai"``."""
        return self._ai_origin is not None

    def _take_proposal(self, proposal: AiProposal) -> None:
        """What the trader took from the AI tab: a new unsaved strategy, or the code replaced (undoable)."""
        if self._saving:
            self.ai.show_error("Wait for the save to finish, then try again.")
            return
        if proposal.as_new:
            self._start_new(proposal.code, self._unused_name(proposal.name), proposal.explanation or "",
                            proposal.values)  # fmt: skip
        else:
            cursor = self.editor.textCursor()
            cursor.beginEditBlock()
            cursor.select(QTextCursor.SelectionType.Document)
            cursor.insertText(proposal.code)
            cursor.endEditBlock()
            if proposal.explanation is not None:
                self.explanation_edit.setPlainText(proposal.explanation)
            self.validate(announce=False)
        self._ai_origin = proposal
        if proposal.problems:
            self._show_error(proposal.note)
        else:
            self._show_status(proposal.note)

    def _unused_name(self, name: str) -> str:
        """``name``, or ``name 2``, ``name 3``… when the trader already has a strategy called that."""
        taken = {n.casefold() for n in self.listed_names()}
        candidate, number = name, 2
        while candidate.casefold() in taken:
            candidate, number = f"{name} {number}", number + 1
        return candidate

    def shutdown(self) -> None:
        """Close the AI tab's Gemini generator (a running call is asked to cancel). Safe twice."""
        self.ai.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    def archive(self) -> asyncio.Task[None] | None:
        """Hide the open strategy from the list (kept in the database for its results)."""
        current = self._current
        if current is None or self._saving:
            return None
        return self._spawn(self._archive(current), "Could not archive the strategy")

    async def _archive(self, strategy: SavedStrategy) -> None:
        await self._runner.call(self._drafts.archive, self._user_id, strategy.id)
        if not shiboken6.isValid(self):
            return
        if self._current is not None and self._current.id == strategy.id:
            self.new_strategy()
        await self._refresh_list()
        self._show_status(f"Archived “{strategy.name}”; its backtest results are kept.")

    # --- checking ---
    def _code_edited(self) -> None:
        self._analysis_seq += 1
        self.validation_timer.start()
        self._update_dirty()

    def _live_validate(self) -> None:
        self.validate(announce=False)

    def _class_chosen(self, _index: int) -> None:
        self.validate(announce=False)

    def validate(self, announce: bool = True) -> asyncio.Task[None] | None:
        """Check the code now (on a worker thread) and mark its problems; nothing is saved. ``announce``
        also reports the verdict in the status line (the Validate button); live checks only mark lines."""
        self.validation_timer.stop()
        self._analysis_seq += 1
        return self._spawn(self._validate(self._analysis_seq, announce), "Could not check the code")

    async def _validate(self, seq: int, announce: bool) -> None:
        source = self.editor.toPlainText()
        wanted = self.class_combo.currentText() or None
        analysis = await self._runner.call(self._drafts.analyse, source, wanted)
        if not shiboken6.isValid(self) or seq != self._analysis_seq:
            return  # the code changed meanwhile; a newer check follows
        self._apply_analysis(analysis)
        if announce:
            count = len(analysis.problems)
            if count:
                self._show_error(f"{count} problem{'s' if count > 1 else ''} found; see the marked lines.")
            else:
                self._show_status("No problems found.")

    def _apply_analysis(self, analysis: SourceAnalysis) -> None:
        self._analysis = analysis
        self.editor.set_problems(analysis.problems)
        self.class_combo.blockSignals(True)
        try:
            if analysis.params is not None and [
                self.class_combo.itemText(i) for i in range(self.class_combo.count())
            ] != list(analysis.classes):
                self.class_combo.clear()
                self.class_combo.addItems(list(analysis.classes))
            if analysis.chosen:
                self.class_combo.setCurrentText(analysis.chosen)
        finally:
            self.class_combo.blockSignals(False)
        several = self.class_combo.count() > 1
        self.class_combo.setVisible(several)
        self.class_label.setVisible(several)
        self.ai.show_family_analysis(analysis.family)
        if analysis.params is not None:
            if self._pending_values is not None:
                self.params_form.set_params(list(analysis.params), self._pending_values)
                self._pending_values = None
            elif list(analysis.params) != self.params_form.params():
                self.params_form.set_params(list(analysis.params), self.params_form.changed_values())
        self._update_dirty()

    # --- saving ---
    def save(self) -> asyncio.Task[None] | None:
        """Save the editor's content as a new version (or a new strategy) through the library."""
        if self._saving:
            return None
        draft = StrategyDraft(
            name=self.name_edit.text().strip(),
            python_code=self.editor.toPlainText(),
            logic_explanation=self.explanation_edit.toPlainText().strip() or None,
        )
        origin = self._ai_origin
        if origin is not None:  # what Gemini said about the code it wrote describes this strategy too
            draft = dataclasses.replace(
                draft,
                symbols=origin.symbols or draft.symbols,
                timeframes=origin.timeframes or draft.timeframes,
                implied_family=origin.family,
            )
        note = self.change_note.text().strip() or None
        self._saving = True
        self._update_actions()
        self._show_status("Saving…")
        task = self._spawn(self._save(draft, note, self.class_combo.currentText() or None, origin), "Could not save")
        if task is None:
            self._saving = False
        return task

    async def _save(
        self, draft: StrategyDraft, note: str | None, wanted: str | None, origin: AiProposal | None
    ) -> None:
        previous = self._current
        strategy_id = previous.id if previous is not None else None
        try:
            # The form may still show the declarations of an earlier text (the live check waits for a pause
            # in typing): read those of exactly this code, and keep the form's values where they fit.
            analysis = await self._runner.call(self._drafts.analyse, draft.python_code, wanted)
            if shiboken6.isValid(self) and self.editor.toPlainText() == draft.python_code:
                self._analysis_seq += 1
                self._apply_analysis(analysis)
            outcome = await self._runner.call(
                self._drafts.save, self._user_id, draft, analysis=analysis, values=self.params_form.values(),
                strategy_id=strategy_id, change_note=note, source="manual" if origin is None else "ai",
            )  # fmt: skip
        finally:
            if shiboken6.isValid(self):
                self._saving = False
                self._update_actions()
        if not shiboken6.isValid(self):
            return
        if outcome.problems:
            self._refused(outcome.draft, outcome.problems)
            return
        if outcome.saved is None:
            self._show_error(f"Not saved: {outcome.error}.")
            if not outcome.draft.name:
                self.name_edit.setFocus()
            return
        saved = outcome.saved
        self._current = saved
        if origin is not None and self._ai_origin is origin:
            self._ai_origin = None  # later edits are the trader's own
        self.change_note.clear()
        unchanged = previous is not None and previous.id == saved.id and previous.version == saved.version
        self._update_actions()
        history = await self._runner.call(self._drafts.versions, self._user_id, saved.id)
        if not shiboken6.isValid(self):
            return
        self._show_versions(history)
        await self._refresh_list()
        self._update_dirty()
        if unchanged:
            self._show_status(f"Saved “{saved.name}”; the code did not change, so it is still version {saved.version}.")
        else:
            self._show_status(f"Saved “{saved.name}” as version {saved.version}.")
        self.strategySaved.emit(saved)

    def _refused(self, draft: StrategyDraft, problems: tuple[Problem, ...]) -> None:
        count = len(problems)
        self._show_error(
            f"Not saved: the code breaks {count} sandbox rule{'s' if count > 1 else ''}; see the marked lines."
        )
        if self.editor.toPlainText() == draft.python_code:
            self.editor.set_problems(problems)
            first = next((p.line for p in problems if p.line > 0), 0)
            if first:
                self.editor.go_to_line(first)
        else:
            self.validate(announce=False)  # the code changed while saving: mark the current text's problems

    # --- versions ---
    def _show_versions(self, history: list[VersionInfo]) -> None:
        self._versions = list(history)
        self.versions_list.blockSignals(True)
        try:
            self.versions_list.clear()
            for version in history:
                item = QListWidgetItem(version_label(version))
                item.setToolTip(version.change_note or f"saved from {version.source}")
                self.versions_list.addItem(item)
        finally:
            self.versions_list.blockSignals(False)
        self.version_preview.clear()
        self._update_actions()

    def versions_shown(self) -> list[int]:
        """The version numbers listed, newest first."""
        return [v.version for v in self._versions]

    def select_version(self, number: int) -> None:
        """Select version ``number`` in the list (its code shows read-only in the preview)."""
        row = next(i for i, v in enumerate(self._versions) if v.version == number)
        self.versions_list.setCurrentRow(row)

    def _version_selected(self, row: int) -> None:
        if 0 <= row < len(self._versions):
            self.version_preview.setPlainText(self._versions[row].python_code or "")
        else:
            self.version_preview.clear()
        self._update_actions()

    def restore_selected_version(self) -> None:
        """Fill the editor with the selected version's code, as one undoable edit; Save makes it current."""
        row = self.versions_list.currentRow()
        if not 0 <= row < len(self._versions):
            return
        version = self._versions[row]
        cursor = self.editor.textCursor()
        cursor.beginEditBlock()
        cursor.select(QTextCursor.SelectionType.Document)
        cursor.insertText(version.python_code or "")
        cursor.endEditBlock()
        self._show_status(f"Version {version.version} is in the editor: Save makes it current (Ctrl+Z undoes this).")

    # --- backtest ---
    def _request_backtest(self) -> None:
        current = self._current
        if current is None:
            return
        if self.is_dirty():
            self._show_status(f"Backtesting saved version {current.version}; unsaved edits are not included.")
        self.backtestRequested.emit(current)


def version_label(version: VersionInfo) -> str:
    """One row of the versions list: number, save time (in the display zone), and the change note (else where it
    came from)."""
    when = shown_minute(version.created_at, label=True)
    return f"v{version.version} · {when} · {version.change_note or version.source}"


def _button(name: str, text: str, tooltip: str) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.setToolTip(tooltip)
    return button


def _short(exc: Exception, limit: int = 300) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
