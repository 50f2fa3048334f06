"""The Batch panel: set up a batch test, run it off the GUI thread, cancel and resume it, read its results.

Every database call and the batch itself run through `BlockingRunner.call` on a worker thread; the
batch's progress callback fires on that thread and reaches the widgets through the `progress` signal,
which Qt queues to the GUI thread. A failure is shown in the panel (message, details on demand): a
trader who started a thousand runs must see why they stopped, not find a line in a log.
"""

from __future__ import annotations

import threading
import traceback
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.async_runner import BlockingRunner
from app.display_time import display_time, shown_minute
from app.views.batch_error import ErrorBox
from app.views.batch_form import BatchForm
from app.views.batch_results import BatchResultsView
from app.views.batch_variables import VariablesEditor
from core.backtest.batch_jobs import BatchInfo, BatchState
from core.backtest.executors import Executor
from core.db.trouble import trader_message
from core.services.batches import Batches

RESUMABLE = ("canceled", "failed", "queued", "running")  # "running" too: a client that died leaves it so


class BatchPanel(QWidget):
    """`progress(done, total)` is emitted from the batch's worker thread (queued to the GUI);
    `batch_finished(BatchState)` after a run ends; `results_loaded()` after a batch's results are shown."""

    progress = Signal(int, int)
    batch_finished = Signal(object)
    results_loaded = Signal()

    def __init__(
        self,
        batches: Batches,
        user_id: uuid.UUID,
        runner: BlockingRunner,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("batchPanel")
        self._batches = batches  # the workflow; this panel only shows what it returns
        self._user_id, self._runner = user_id, runner
        self._cancel: threading.Event | None = None
        self.current: BatchInfo | None = None  # the batch open in the panel (running, or reopened)
        self.state: BatchState | None = None
        self.batches: list[BatchInfo] = []
        self.loading = 0  # database loads in flight (tests wait for 0)

        self.form = BatchForm()
        self.variables = VariablesEditor()
        self.run_button = self._button("Run", "runButton", self.start_run)
        self.cancel_button = self._button("Cancel", "cancelButton", self.cancel)
        self.resume_button = self._button("Resume", "resumeButton", self.resume)
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("batchProgress")
        self.progress_bar.setFormat("%v / %m")
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.status_label = QLabel("No batch open.")
        self.status_label.setObjectName("batchStatus")
        self.errors = ErrorBox()

        self.batches_table = QTableWidget(0, 4)
        self.batches_table.setObjectName("batchesTable")
        self._display = display_time()
        self._display.zoneChanged.connect(self._show_batches)  # "created" reads in the chosen zone
        self._show_batches()
        self.batches_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.batches_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.batches_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.batches_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.batches_table.verticalHeader().setVisible(False)
        self.batches_table.cellDoubleClicked.connect(lambda row, _col: self.open_row(row))
        self.open_button = self._button("Open", "openBatchButton", self.open_selected)
        self.refresh_button = self._button("Refresh", "refreshButton", self.refresh)
        self.results = BatchResultsView()

        self.progress.connect(self._on_progress)
        self.variables.changed.connect(self._update_buttons)
        self.variables.save_requested.connect(self.save_list)
        self.results.metric_changed.connect(lambda _m: self.current and self.open_batch(self.current.id))
        self._layout()
        self._update_buttons()
        QTimer.singleShot(0, self.refresh)  # the event loop runs by then, so the load can start

    def _button(self, text: str, name: str, slot: Callable[[], Any]) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.clicked.connect(lambda _checked=False: slot())
        return button

    def _layout(self) -> None:
        setup = QWidget()
        setup_layout = QVBoxLayout(setup)
        setup_layout.addWidget(self.form)
        setup_layout.addWidget(self.variables, 1)
        controls = QHBoxLayout()
        for w in (self.run_button, self.cancel_button, self.resume_button):
            controls.addWidget(w)
        controls.addWidget(self.progress_bar, 1)
        setup_layout.addLayout(controls)
        setup_layout.addWidget(self.status_label)
        setup_layout.addWidget(self.errors)
        past = QWidget()
        past_layout = QVBoxLayout(past)
        buttons = QHBoxLayout()
        buttons.addWidget(QLabel("Past batches"))
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.refresh_button)
        past_layout.addLayout(buttons)
        past_layout.addWidget(self.batches_table)
        splitter = QSplitter(Qt.Orientation.Vertical)
        for w in (setup, past, self.results):
            splitter.addWidget(w)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    # state ------------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """A batch is running from this panel."""
        return self._cancel is not None

    def _update_buttons(self) -> None:
        resumable = self.current is not None and self.state is not None and self.state.status in RESUMABLE
        self.run_button.setEnabled(not self.busy and self.variables.valid)
        self.cancel_button.setEnabled(self.busy and not (self._cancel and self._cancel.is_set()))
        self.resume_button.setEnabled(not self.busy and resumable)

    def show_error(self, message: str, exc: BaseException | None = None) -> None:
        if not shiboken6.isValid(self):
            return
        details = "".join(traceback.format_exception(exc)) if exc is not None else ""
        self.errors.show_error(f"{message}: {trader_message(exc)}" if exc is not None else message, details)

    def _spawn(self, work: Awaitable[None], failure: str, name: str) -> None:
        """Start a load; any exception it ends with is shown in the panel, not only logged."""

        async def guarded() -> None:
            try:
                await work
            except Exception as exc:
                self.show_error(failure, exc)
            finally:
                if shiboken6.isValid(self):
                    self.loading -= 1

        self.loading += 1
        self._runner.spawn(guarded(), name=name)

    # loading ----------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Reload strategies, saved lists and past batches."""
        self._spawn(self._refresh(), "Could not load strategies and batches", "batch-refresh")

    async def _refresh(self) -> None:
        choices = await self._runner.call(self._batches.choices, self._user_id)
        self.form.set_strategies(choices.strategies)
        self.variables.set_lists(choices.lists)
        await self._load_batches()

    async def _load_batches(self) -> None:
        self.batches = await self._runner.call(self._batches.list, self._user_id)
        self._show_batches()

    def _show_batches(self, _zone: object = None) -> None:
        table = self.batches_table
        table.setHorizontalHeaderLabels(["name", "status", "progress", self._display.header("created")])
        table.setRowCount(len(self.batches))
        for row, info in enumerate(self.batches):
            st = info.state
            created = shown_minute(info.created_at)
            texts = (info.name, st.status, f"{st.completed:,} / {st.total:,}", created)
            for col, text in enumerate(texts):
                item = QTableWidgetItem(text)
                item.setToolTip(st.error or "")
                table.setItem(row, col, item)

    def open_selected(self) -> None:
        self.open_row(self.batches_table.currentRow())

    def open_row(self, row: int) -> None:
        if 0 <= row < len(self.batches):
            self.open_batch(self.batches[row].id)

    def open_batch(self, job_id: uuid.UUID) -> None:
        """Show a batch's state and results (a past one, or the one that just ran)."""
        self._spawn(self._open(job_id), "Could not open the batch", "batch-open")

    async def _open(self, job_id: uuid.UUID) -> None:
        info = await self._runner.call(self._batches.info, job_id, self._user_id)
        metric = self.results.metric
        results = await self._runner.call(self._batches.results, job_id, self._user_id, metric)
        if not self.busy or (self.current is not None and self.current.id == job_id):
            self.current = info
            self._show_state(info.state)
        self.results.show_results(results, info.variable_names)
        self.results_loaded.emit()

    def _show_state(self, state: BatchState) -> None:
        self.state = state
        self.progress_bar.setRange(0, max(1, state.total))
        self.progress_bar.setValue(state.completed)
        failed = f", {state.failed_runs:,} failed" if state.failed_runs else ""
        truncated = " (truncated by the cap)" if state.truncated else ""
        self.status_label.setText(f"{state.status}: {state.completed:,} of {state.total:,} runs{failed}{truncated}")
        if state.status == "failed" and state.error:
            self.errors.show_error(f"The batch failed: {state.error.splitlines()[0]}", state.error)
        self._update_buttons()

    # saved lists ------------------------------------------------------------------------------------

    def save_list(self, name: str, kind: str, values: list[Any]) -> None:
        self._spawn(self._save_list(name, kind, values), "Could not save the list", "batch-save-list")

    async def _save_list(self, name: str, kind: str, values: list[Any]) -> None:
        self.errors.clear()
        self.variables.set_lists(await self._runner.call(self._batches.save_list, self._user_id, name, kind, values))
        self.status_label.setText(f"Saved the {kind} list {name!r}.")

    # running ----------------------------------------------------------------------------------------

    def start_run(self) -> None:
        """Create a batch from the form and variables, then run it."""
        if self.busy:
            return
        self.errors.clear()
        try:
            spec = self.form.spec(self._user_id, self.variables.variables(), self.variables.cap.value())
            executor = self.form.executor()
        except ValueError as exc:  # VariableError is a ValueError too
            self.show_error(str(exc))
            return
        cancel = self._begin()

        async def create_then_run() -> None:
            job_id = await self._runner.call(self._batches.create, spec)
            await self._run(job_id, executor, cancel)

        self._spawn(self._guard_run(create_then_run()), "Could not create the batch", "batch-run")

    def resume(self) -> None:
        """Run the open canceled or failed batch again: the runs already stored are kept, not redone."""
        if self.busy or self.current is None:
            return
        self.errors.clear()
        try:
            executor = self.form.executor()
        except ValueError as exc:
            self.show_error(str(exc))
            return
        cancel = self._begin()
        self._spawn(self._guard_run(self._run(self.current.id, executor, cancel)), "Could not resume", "batch-resume")

    def cancel(self) -> None:
        """Stop after the runs in flight; they are kept, and the batch can be resumed."""
        if self._cancel is not None:
            self._cancel.set()
            self.status_label.setText("canceling: the runs in flight finish and are kept…")
            self._update_buttons()

    def _begin(self) -> threading.Event:
        self._cancel = threading.Event()
        self._update_buttons()
        return self._cancel

    async def _guard_run(self, work: Awaitable[None]) -> None:
        try:
            await work
        finally:
            if shiboken6.isValid(self):
                self._cancel = None
                self._update_buttons()

    async def _run(self, job_id: uuid.UUID, executor: Executor, cancel: threading.Event) -> None:
        info = await self._runner.call(self._batches.info, job_id, self._user_id)
        self.current = info
        self._show_state(info.state)
        self.status_label.setText(f"running: {info.state.completed:,} of {info.state.total:,} runs")
        self.destroyed.connect(cancel.set)  # a panel closed mid-run stops its batch
        emit = self.progress.emit

        def report(done: int, total: int) -> None:  # on the batch's worker thread
            if shiboken6.isValid(self):
                emit(done, total)

        metric = self.results.metric
        try:
            state = await self._runner.call(self._batches.run, info, self._user_id, executor, report, cancel, metric)
        except Exception as exc:
            self.show_error("The batch stopped", exc)
            state = await self._runner.call(self._batches.state, job_id, self._user_id)
        self._cancel = None
        self._show_state(state)
        self.batch_finished.emit(state)
        await self._load_batches()
        await self._open(job_id)

    def _on_progress(self, done: int, total: int) -> None:
        self.progress_bar.setRange(0, max(1, total))
        self.progress_bar.setValue(done)
        if self._cancel is not None and not self._cancel.is_set():
            self.status_label.setText(f"running: {done:,} of {total:,} runs")
        for row, info in enumerate(self.batches):  # the past-batches list follows the running batch too
            if self.current is not None and info.id == self.current.id and self.batches_table.item(row, 2):
                self.batches_table.item(row, 2).setText(f"{done:,} / {total:,}")
