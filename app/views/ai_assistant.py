"""The strategy editor's AI tab: ask Gemini for a new strategy, a change to the open one, or an explanation.

Every model call blocks for seconds (HTTP, up to the client timeout, plus a smoke backtest in the sandbox per
answer), so each runs on the runner's worker thread and the tab shows a busy bar, a ticking status line and a
Cancel button meanwhile. Cancel sets the generator's ``threading.Event``: it is honoured between steps, so a
request already sent to Gemini finishes or times out first; until then the tab stays busy rather than letting
a second call pile up on the shared worker pool.

Nothing the model writes reaches the editor, let alone the library, without the trader's say-so: a new
strategy is offered with its explanation, family and smoke-test summary and goes into the editor only on
"Open in editor" (as a new, unsaved strategy); a change is shown as a diff and applied only on "Apply"; the
last failed attempt of a generation is put in the editor only on "Open last attempt". The assistant emits
:class:`AiProposal` for those and leaves editing to the panel, which also records the next save as AI-sourced.

Nor does the model's code run before the trader agreed, where the sandbox is not fully confined: the generator
then offers its answer validated but "not yet run", with the warning :func:`core.strategy.code_trust
.needs_confirmation` wrote, and the tab shows that warning with "Run the smoke test" and "Don't run it". Only the
first runs it (and any repairs it leads to), on the worker thread like every other call; with FULL confinement
the generator smoke-tests at once, as before.

The generator is built lazily on a worker thread (reading the key blocks on the keyring). Without a key the
model's buttons are disabled with a message saying where to add one, while the deterministic family analysis
(fed by the editor's live validation) and an analysis-based Explain keep working. The generator is closed
when the widget is shut down or destroyed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import shiboken6
from PySide6.QtCore import QElapsedTimer, Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.async_runner import BlockingRunner
from app.views.diff_dialog import DiffDialog
from core.ai import (
    AiCancelled,
    AiError,
    Explanation,
    FamilyVerdict,
    GeneratedStrategy,
    GenerationFailed,
    Modification,
    SmokeReport,
    StrategyGenerator,
)
from core.ai.diff import code_diff
from core.db.trouble import trader_message
from core.domain.bars import TIMEFRAMES
from core.strategy.source import strategy_classes

log = logging.getLogger(__name__)

T = TypeVar("T")
GeneratorFactory = Callable[[], StrategyGenerator]

NO_KEY_MESSAGE = "Add a Gemini key in Settings to generate strategies"
CHECKING_KEY_MESSAGE = "Looking for a Gemini key…"
GENERATE_TOOLTIP = "Ask Gemini for a new strategy from the description (vetted and smoke-tested before it is shown)"
MODIFY_TOOLTIP = "Ask Gemini to change the code in the editor as the description says (shown as a diff first)"
EXPLAIN_TOOLTIP = "Ask Gemini to explain the code in the editor in plain English"
EXPLAIN_OFFLINE_TOOLTIP = (
    "Explain the code in the editor from the code analysis (its family and the evidence); "
    "add a Gemini key in Settings for a plain-English explanation"
)
CANCEL_TOOLTIP = "Stop after the current step (a request already sent to Gemini finishes or times out first)"
CANCELLING_MESSAGE = "Cancelling: a request already sent to Gemini finishes or times out first…"
NOT_RUN = "Smoke test: not run yet."
RUN_SMOKE_TOOLTIP = "Run Gemini's code once on simulated bars in the sandbox (repairs, if it fails, run too)"
SKIP_SMOKE_TOOLTIP = "Keep the strategy without running it; nothing of it runs until you backtest it yourself"
DEFAULT_NAME = "AI strategy"


@dataclass(frozen=True)
class AiProposal:
    """What the trader accepted for the editor. ``as_new``: a new, unsaved strategy named ``name``; otherwise
    the editor's code is replaced (one undoable edit). ``explanation`` None keeps the editor's explanation.
    ``symbols``, ``timeframes`` and ``family`` are descriptive fields for the save; ``problems`` are those
    the code still has (a failed generation's last attempt); ``note`` is the editor's status line."""

    code: str
    name: str
    explanation: str | None
    as_new: bool
    note: str
    values: dict[str, Any] = field(default_factory=dict)
    symbols: tuple[str, ...] = ()
    timeframes: tuple[str, ...] = ()
    family: str | None = None
    problems: tuple[str, ...] = ()


# ---- words for the trader (pure, so they are tested without widgets) -------------------------------------------


def proposal_of(strategy: GeneratedStrategy, *, as_new: bool, note: str) -> AiProposal:
    """What the editor takes from a Gemini strategy: as a new strategy, or over the one open (a change)."""
    return AiProposal(
        code=strategy.code,
        name=suggested_name(strategy.class_name),
        explanation=strategy.explanation,
        as_new=as_new,
        note=note,
        values=strategy.default_values,
        symbols=strategy.symbols,
        timeframes=(strategy.timeframe,),
        family=strategy.family,
    )


def family_name(family: str | None) -> str:
    return family.replace("_", " ") if family else "none"


def suggested_name(class_name: str | None) -> str:
    """A readable strategy name from a class name: ``GeminiRsiDip`` -> ``Gemini Rsi Dip``."""
    if not class_name:
        return DEFAULT_NAME
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|_+", " ", class_name).split()
    return " ".join(words) or DEFAULT_NAME


def parse_symbols(text: str) -> tuple[str, ...]:
    """Tickers typed as ``AAPL, msft spy``: upper-cased, in order, each once."""
    seen: dict[str, None] = {}
    for word in re.split(r"[\s,;]+", text):
        if word:
            seen.setdefault(word.upper(), None)
    return tuple(seen)


def _percent(value: Any) -> str | None:
    return f"{value * 100:+.1f}%" if isinstance(value, int | float) else None


def smoke_summary(smoke: SmokeReport) -> str:
    """One or two lines: trades, where it ran, a few metrics, and any warning."""
    kind = "simulated" if smoke.simulated else "stored"
    trades = smoke.trade_count
    head = f"Smoke test: {trades} trade{'' if trades == 1 else 's'} on {smoke.bars:,} {kind} {smoke.timeframe} bars"
    metrics = []
    if (text := _percent(smoke.metrics.get("total_return"))) is not None:
        metrics.append(f"total return {text}")
    if (text := _percent(smoke.metrics.get("max_drawdown"))) is not None:
        metrics.append(f"max drawdown {text}")
    if isinstance(sharpe := smoke.metrics.get("sharpe"), int | float):
        metrics.append(f"Sharpe {sharpe:.2f}")
    lines = [head + (f"; {', '.join(metrics)}" if metrics else "") + "."]
    lines += [f"Warning: {w}." for w in smoke.warnings]
    return "\n".join(lines)


def smoke_text(strategy: GeneratedStrategy) -> str:
    """The smoke test's summary, or "not run yet" with the reason the trader is asked first."""
    if strategy.smoke is None:
        return f"{NOT_RUN}\n{strategy.smoke_warning}" if strategy.smoke_warning else NOT_RUN
    return smoke_summary(strategy.smoke)


def attempts_summary(attempts: int) -> str:
    if attempts <= 1:
        return "Passed the checks at the first attempt."
    return f"Repaired after {attempts} attempts (the earlier answers failed the sandbox check or the smoke test)."


def describe_strategy(result: GeneratedStrategy) -> str:
    """The result pane's text for a vetted strategy: explanation first, then what was checked."""
    params = ", ".join(f"{p.name}={p.default!r}" for p in result.parameters)
    lines = [
        f"{result.class_name} ({result.timeframe}" + (f", {', '.join(result.symbols)}" if result.symbols else "") + ")",
        "",
        result.explanation,
        "",
        f"Family: {family_name(result.family)} ({'Gemini' if result.family_source == 'model' else 'code analysis'})",
    ]
    if params:
        lines.append(f"Parameters: {params}")
    lines += [smoke_text(result), attempts_summary(result.attempts)]
    return "\n".join(lines)


def describe_explanation(explanation: Explanation) -> str:
    source = "Gemini" if explanation.family_source == "model" else "code analysis"
    return f"{explanation.summary}\n\n{explanation.text}\n\nFamily: {family_name(explanation.family)} ({source})"


def describe_analysis(verdict: FamilyVerdict | None) -> str:
    """Explain-by-analysis: the family the code implies and the evidence, strongest first."""
    if verdict is None:
        return "The code has not been analysed yet."
    lines = [f"Family (code analysis): {family_name(verdict.family)}"]
    if verdict.reason and verdict.family is None:
        lines.append(verdict.reason)
    evidence = [str(e) for e in verdict.evidence[:8]]
    if evidence:
        lines += ["", "Evidence:", *(f"  {e}" for e in evidence)]
    lines += ["", "Add a Gemini key in Settings for a plain-English explanation of the code."]
    return "\n".join(lines)


def analysis_label(verdict: FamilyVerdict | None) -> str:
    if verdict is None:
        return "Family (code analysis): …"
    return f"Family (code analysis): {family_name(verdict.family)}"


# ---- the generator's lifetime ------------------------------------------------------------------------------------


class _GeneratorHolder:
    """Owns the generator apart from the widget, so it can still be closed from the widget's ``destroyed``
    signal (when the Python wrapper may no longer be usable)."""

    def __init__(self) -> None:
        self.generator: StrategyGenerator | None = None

    def replace(self, generator: StrategyGenerator | None) -> None:
        old, self.generator = self.generator, generator
        if old is not None and old is not generator:
            _close_quietly(old)

    def close(self) -> None:
        self.replace(None)


def _close_quietly(generator: StrategyGenerator) -> None:
    try:
        generator.close()
    except Exception:  # closing HTTP connections must never break the GUI
        log.warning("could not close the Gemini client", exc_info=True)


# ---- the widget --------------------------------------------------------------------------------------------------


class AiAssistant(QWidget):
    """The AI tab. ``code`` returns the editor's text (read on the GUI thread when a call starts).
    ``generator_factory`` (blocking; run on a worker thread) defaults to ``StrategyGenerator.from_secret_store``.

    Emits ``proposalAccepted(AiProposal)`` when the trader takes something into the editor and
    ``busyChanged(bool)`` when a model call starts or ends."""

    proposalAccepted = Signal(object)
    busyChanged = Signal(bool)

    def __init__(
        self,
        runner: BlockingRunner,
        *,
        code: Callable[[], str],
        generator_factory: GeneratorFactory | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("aiAssistant")
        self._runner = runner
        self._code = code
        self._factory: GeneratorFactory = generator_factory or StrategyGenerator.from_secret_store
        self._holder = _GeneratorHolder()
        holder = self._holder
        self.destroyed.connect(lambda *_: holder.close())  # not a method of self: it is gone by then
        self._key_checked = False  # a generator (with or without a key) has been built
        self._building = False
        self._setup_error: str | None = None
        self._busy = False
        self._cancel: threading.Event | None = None
        self._seq = 0  # bumped by every call and by shutdown: a result for an older one is dropped
        self._closed = False
        self._analysis: FamilyVerdict | None = None
        self._model_family: tuple[str, str | None] | None = None  # (the code it describes, the family)
        self._offer: GeneratedStrategy | None = None
        self._failure: tuple[GenerationFailed, bool] | None = None  # (the error, whether it was a new strategy)
        # A strategy offered "not yet run" and, for a change, the code it changes (None: a new strategy).
        self._unrun: tuple[GeneratedStrategy, str | None] | None = None
        self.diff_dialog: DiffDialog | None = None

        self._elapsed = QElapsedTimer()
        self._busy_text = ""
        self.busy_timer = QTimer(self)
        self.busy_timer.setObjectName("aiBusyTimer")
        self.busy_timer.setInterval(1000)
        self.busy_timer.timeout.connect(self._tick)

        self._build()
        self._update_buttons()
        self.refresh_key()

    # --- construction ---
    def _build(self) -> None:
        self.prompt_edit = QPlainTextEdit()
        self.prompt_edit.setObjectName("aiPrompt")
        self.prompt_edit.setPlaceholderText(
            "Describe a strategy in plain English (Generate), or the change you want to the code in the editor…"
        )
        self.symbols_edit = QLineEdit()
        self.symbols_edit.setObjectName("aiSymbols")
        self.symbols_edit.setPlaceholderText("optional: AAPL, MSFT")
        self.timeframe_combo = QComboBox()
        self.timeframe_combo.setObjectName("aiTimeframe")
        self.timeframe_combo.addItem("any", None)
        for timeframe in TIMEFRAMES:
            self.timeframe_combo.addItem(timeframe, timeframe)
        options = QHBoxLayout()
        options.addWidget(QLabel("Symbols"))
        options.addWidget(self.symbols_edit, 1)
        options.addWidget(QLabel("Timeframe"))
        options.addWidget(self.timeframe_combo)

        self.generate_button = _button("generateButton", "Generate", GENERATE_TOOLTIP, self.generate)
        self.modify_button = _button("modifyButton", "Change this strategy", MODIFY_TOOLTIP, self.modify)
        self.explain_button = _button("explainButton", "Explain", EXPLAIN_TOOLTIP, self.explain)
        self.cancel_button = _button("aiCancelButton", "Cancel", CANCEL_TOOLTIP, self.cancel)
        buttons = QGridLayout()
        buttons.addWidget(self.generate_button, 0, 0)
        buttons.addWidget(self.modify_button, 0, 1)
        buttons.addWidget(self.explain_button, 1, 0)
        buttons.addWidget(self.cancel_button, 1, 1)

        self.busy_bar = QProgressBar()
        self.busy_bar.setObjectName("aiBusy")
        self.busy_bar.setRange(0, 0)  # indeterminate: Gemini says nothing about progress
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setMaximumHeight(8)
        self.busy_bar.hide()
        self.status_label = _label("aiStatus")
        self.error_label = _label("aiError")
        self.error_label.setStyleSheet("color: #d32f2f;")
        self.error_label.hide()
        self.key_label = _label("aiKeyMessage")
        self.key_label.hide()
        self.family_label = _label("aiFamily")
        self.model_family_label = _label("aiModelFamily")
        self.model_family_label.hide()

        self.result_view = QPlainTextEdit()
        self.result_view.setObjectName("aiResult")
        self.result_view.setReadOnly(True)
        self.result_view.setPlaceholderText("Gemini's strategy, explanation and checks appear here.")
        self.open_button = _button(
            "aiOpenButton", "Open in editor",
            "Put this strategy in the editor as a new, unsaved strategy (Save stores it)", self.open_in_editor,
        )  # fmt: skip
        self.open_attempt_button = _button(
            "aiOpenAttemptButton", "Open last attempt",
            "Put Gemini's last (failing) attempt in the editor with its problems, to fix by hand",
            self.open_last_attempt,
        )  # fmt: skip
        self.open_button.hide()
        self.open_attempt_button.hide()

        self.run_warning_label = _label("aiRunWarning")
        self.run_warning_label.setStyleSheet("color: #b26a00;")
        self.run_smoke_button = _button("aiRunSmokeButton", "Run the smoke test", RUN_SMOKE_TOOLTIP, self.run_smoke)
        self.skip_smoke_button = _button("aiSkipSmokeButton", "Don't run it", SKIP_SMOKE_TOOLTIP, self.skip_smoke)
        confirm_buttons = QHBoxLayout()
        confirm_buttons.addWidget(self.run_smoke_button)
        confirm_buttons.addWidget(self.skip_smoke_button)
        confirm_buttons.addStretch(1)
        self.smoke_confirmation = QWidget()
        self.smoke_confirmation.setObjectName("aiSmokeConfirmation")
        confirm = QVBoxLayout(self.smoke_confirmation)
        confirm.setContentsMargins(0, 0, 0, 0)
        confirm.addWidget(self.run_warning_label)
        confirm.addLayout(confirm_buttons)
        self.smoke_confirmation.hide()
        actions = QHBoxLayout()
        actions.addWidget(self.open_button)
        actions.addWidget(self.open_attempt_button)
        actions.addStretch(1)

        layout = QVBoxLayout(self)
        layout.addWidget(self.prompt_edit, 1)
        layout.addLayout(options)
        layout.addLayout(buttons)
        layout.addWidget(self.busy_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(self.error_label)
        layout.addWidget(self.key_label)
        layout.addWidget(self.family_label)
        layout.addWidget(self.model_family_label)
        layout.addWidget(self.result_view, 2)
        layout.addWidget(self.smoke_confirmation)
        layout.addLayout(actions)
        self.family_label.setText(analysis_label(None))

    # --- state ---
    @property
    def busy(self) -> bool:
        """A model call is running on a worker thread."""
        return self._busy

    @property
    def has_key(self) -> bool | None:
        """Whether the generator has a Gemini key (None: still looking)."""
        generator = self._holder.generator
        return None if generator is None else generator.has_key

    @property
    def generator(self) -> StrategyGenerator | None:
        return self._holder.generator

    @property
    def offered(self) -> GeneratedStrategy | None:
        """The strategy shown with "Open in editor" (None: none offered)."""
        return self._offer

    @property
    def awaiting_confirmation(self) -> GeneratedStrategy | None:
        """The strategy offered "not yet run", waiting for "Run the smoke test" (None: nothing waits)."""
        return self._unrun[0] if self._unrun is not None else None

    def _model_ready(self) -> bool:
        generator = self._holder.generator
        return generator is not None and generator.has_key

    def _update_buttons(self) -> None:
        ready, idle = self._model_ready(), not self._busy
        if ready:
            reason = ""
        elif self._setup_error:
            reason = self._setup_error
        elif self._key_checked:
            reason = NO_KEY_MESSAGE
        else:
            reason = CHECKING_KEY_MESSAGE
        for button, tooltip in ((self.generate_button, GENERATE_TOOLTIP), (self.modify_button, MODIFY_TOOLTIP)):
            button.setEnabled(ready and idle)
            button.setToolTip(tooltip if ready else reason)
        self.explain_button.setEnabled(idle)
        self.explain_button.setToolTip(EXPLAIN_TOOLTIP if ready else EXPLAIN_OFFLINE_TOOLTIP)
        self.cancel_button.setEnabled(self._busy and self._cancel is not None and not self._cancel.is_set())
        self.open_button.setEnabled(idle)
        self.open_attempt_button.setEnabled(idle)
        self.run_smoke_button.setEnabled(idle and ready and self._unrun is not None)
        self.skip_smoke_button.setEnabled(idle and self._unrun is not None)
        no_key = self._key_checked and not ready and not self._setup_error
        self.key_label.setText(f"{NO_KEY_MESSAGE}. Explain and the family analysis work without one." if no_key else "")
        self.key_label.setVisible(no_key)

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        if busy:
            self._busy_text = text
            self._elapsed.start()
            self.busy_timer.start()
            self.status_label.setText(text)
            self._set_error("")
        else:
            self.busy_timer.stop()
            self._cancel = None
        self.busy_bar.setVisible(busy)
        self._update_buttons()
        self.busyChanged.emit(busy)

    def _tick(self) -> None:
        if self._busy:
            seconds = self._elapsed.elapsed() // 1000
            cancelling = self._cancel is not None and self._cancel.is_set()
            self.status_label.setText(f"{CANCELLING_MESSAGE if cancelling else self._busy_text} {seconds} s")

    def _show_status(self, text: str) -> None:
        self._set_error("")
        self.status_label.setText(text)

    def show_error(self, text: str) -> None:
        """``text`` in red in the tab (the status line is cleared)."""
        self.status_label.setText("")
        self._set_error(text)

    def _set_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))

    def _spawn(self, coro: Coroutine[Any, Any, None], failure: str) -> asyncio.Task[None] | None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the event loop has stopped (the app is closing)
            coro.close()
            return None
        return self._runner.spawn(self._guard(coro, failure), name=f"ai-assistant: {failure}")

    async def _guard(self, coro: Coroutine[Any, Any, None], failure: str) -> None:
        """An unexpected failure (a bug, not an AiError) is shown in the tab and logged, not lost in a task."""
        try:
            await coro
        except Exception as exc:
            if not shiboken6.isValid(self) or self._closed:
                return
            log.exception("%s", failure)
            self.show_error(f"{failure}: {trader_message(exc)}")

    # --- the generator ---
    def refresh_key(self) -> asyncio.Task[None] | None:
        """(Re)build the generator on a worker thread, e.g. after a key was added in Settings. Not while a
        call runs (it uses the current generator) or a build is already under way."""
        if self._busy or self._building or self._closed:
            return None
        self._building = True
        task = self._spawn(self._build_generator(), "Could not set up Gemini")
        if task is None:
            self._building = False
        return task

    async def _build_generator(self) -> None:
        try:
            generator = await self._runner.call(self._factory)
        except Exception as exc:
            if shiboken6.isValid(self) and not self._closed:
                log.warning("could not set up the Gemini generator", exc_info=True)
                self._setup_error = f"Could not set up Gemini: {str(exc) or type(exc).__name__}"
                self._key_checked = True
                self.show_error(self._setup_error)
                self._update_buttons()
            return
        finally:
            if shiboken6.isValid(self):
                self._building = False
        if not shiboken6.isValid(self) or self._closed or self._busy:
            _close_quietly(generator)  # gone meanwhile, or a call started on the old generator
            return
        self._holder.replace(generator)
        self._setup_error = None
        self._key_checked = True
        self._update_buttons()

    def showEvent(self, event: QShowEvent) -> None:
        """Look for a key again each time the tab is shown without one: the trader may have just added it."""
        super().showEvent(event)
        if self._key_checked and not self._model_ready():
            self.refresh_key()

    def shutdown(self) -> None:
        """Stop caring about a running call (it is asked to cancel) and close the generator. Safe twice."""
        if self._closed:
            return
        self._closed = True
        self._seq += 1
        if self._cancel is not None:
            self._cancel.set()
        self.busy_timer.stop()
        self._holder.close()
        if self.diff_dialog is not None and shiboken6.isValid(self.diff_dialog):
            self.diff_dialog.reject()

    # --- family ---
    def show_family_analysis(self, verdict: FamilyVerdict | None) -> None:
        """The deterministic family of the editor's current code (the panel calls this after each check)."""
        self._analysis = verdict
        self.family_label.setText(analysis_label(verdict))
        if verdict is not None and verdict.evidence:
            self.family_label.setToolTip("\n".join(str(e) for e in verdict.evidence[:8]))
        else:
            self.family_label.setToolTip(verdict.reason if verdict is not None else "")
        self._show_model_family()

    @property
    def family_analysis(self) -> FamilyVerdict | None:
        return self._analysis

    def _remember_model_family(self, code: str, family: str | None) -> None:
        self._model_family = (code, family)
        self._show_model_family()

    def _show_model_family(self) -> None:
        if self._model_family is None:
            self.model_family_label.hide()
            return
        code, family = self._model_family
        stale = code != self._code()
        suffix = " (for the code before your latest edits)" if stale else ""
        self.model_family_label.setText(f"Family (Gemini): {family_name(family)}{suffix}")
        self.model_family_label.show()

    # --- the calls ---
    def _start(
        self,
        text: str,
        work: Callable[[StrategyGenerator, threading.Event], T],
        done: Callable[[T], None],
        *,
        new_strategy: bool,
    ) -> asyncio.Task[None] | None:
        generator = self._holder.generator
        if self._busy or self._closed or generator is None or not generator.has_key:
            return None
        self._seq += 1
        cancel = threading.Event()
        self._cancel = cancel
        self._set_busy(True, text)
        task = self._spawn(self._run(self._seq, generator, work, done, cancel, new_strategy), "Gemini request failed")
        if task is None:
            self._set_busy(False)
        return task

    async def _run(
        self,
        seq: int,
        generator: StrategyGenerator,
        work: Callable[[StrategyGenerator, threading.Event], T],
        done: Callable[[T], None],
        cancel: threading.Event,
        new_strategy: bool,
    ) -> None:
        try:
            result = await self._runner.call(work, generator, cancel)
        except AiCancelled:
            if self._current(seq):
                self._show_status("Cancelled; nothing changed.")
            return
        except GenerationFailed as exc:
            if self._current(seq):
                self._failure = (exc, new_strategy)
                self._offer = None
                self._await_confirmation(None)
                self.open_button.hide()
                self.open_attempt_button.show()
                self.show_error(str(exc))
            return
        except AiError as exc:
            if self._current(seq):
                self.show_error(str(exc))
            return
        finally:
            if shiboken6.isValid(self) and not self._closed and seq == self._seq:
                self._set_busy(False)
        if self._current(seq):
            done(result)

    def _current(self, seq: int) -> bool:
        return shiboken6.isValid(self) and not self._closed and seq == self._seq

    def generate(self) -> asyncio.Task[None] | None:
        """A new strategy from the prompt (and the optional symbols and timeframe)."""
        request = self.prompt_edit.toPlainText()
        symbols = parse_symbols(self.symbols_edit.text())
        timeframe = self.timeframe_combo.currentData()

        def work(generator: StrategyGenerator, cancel: threading.Event) -> GeneratedStrategy:
            return generator.generate(request, symbols=symbols, timeframe=timeframe, cancel=cancel)

        return self._start("Gemini is writing a strategy…", work, self._generated, new_strategy=True)

    def modify(self) -> asyncio.Task[None] | None:
        """The editor's code changed as the prompt says, shown as a diff."""
        request, code = self.prompt_edit.toPlainText(), self._code()

        def work(generator: StrategyGenerator, cancel: threading.Event) -> Modification:
            return generator.modify(code, request, cancel=cancel)

        return self._start("Gemini is changing the strategy…", work, self._modified, new_strategy=False)

    def explain(self) -> asyncio.Task[None] | None:
        """Gemini's explanation of the editor's code; without a key, the code analysis' family and evidence."""
        if not self._model_ready():
            if not self._busy:
                self._clear_offers()
                self.result_view.setPlainText(describe_analysis(self._analysis))
                self._show_status(
                    "Explained from the code analysis (no Gemini key)." if self._key_checked
                    else "Explained from the code analysis (still looking for a Gemini key)."
                )  # fmt: skip
            return None
        code = self._code()

        def work(generator: StrategyGenerator, cancel: threading.Event) -> Explanation:
            return generator.explain(code, cancel=cancel)

        return self._start("Gemini is reading the code…", work, lambda e: self._explained(code, e), new_strategy=False)

    def cancel(self) -> None:
        """Ask the running call to stop at its next step."""
        if not self._busy or self._cancel is None:
            return
        self._cancel.set()
        self.status_label.setText(CANCELLING_MESSAGE)
        self._update_buttons()

    # --- results ---
    def _clear_offers(self) -> None:
        self._offer = None
        self._failure = None
        self.open_button.hide()
        self.open_attempt_button.hide()
        self._await_confirmation(None)

    def _await_confirmation(self, unrun: tuple[GeneratedStrategy, str | None] | None) -> None:
        """Show (or, with None, hide) the warning with "Run the smoke test" for a strategy offered not yet run."""
        self._unrun = unrun
        self.run_warning_label.setText((unrun[0].smoke_warning or "") if unrun is not None else "")
        self.smoke_confirmation.setVisible(unrun is not None)
        self._update_buttons()

    def _generated(self, result: GeneratedStrategy) -> None:
        self._clear_offers()
        self._offer = result
        self.result_view.setPlainText(describe_strategy(result))
        self.open_button.show()
        if result.family_source == "model":
            self._remember_model_family(result.code, result.family)
        if result.smoke_pending:
            self._await_confirmation((result, None))
            self._show_status(f"Gemini wrote {result.class_name}; it passed the sandbox check but has not run. "
                              "Read it (Open in editor), then decide whether to run the smoke test.")  # fmt: skip
            return
        self._show_status(f"Gemini wrote {result.class_name}: read it, then Open in editor (nothing is saved yet).")

    # --- the smoke test the trader confirms ---
    def run_smoke(self) -> asyncio.Task[None] | None:
        """The trader confirmed the warning: smoke-test the strategy offered not yet run (and repair it if it
        fails), on the worker thread."""
        if self._unrun is None:
            return None
        strategy, old_code = self._unrun

        def work(generator: StrategyGenerator, cancel: threading.Event) -> GeneratedStrategy:
            return generator.smoke_test(strategy, cancel=cancel)

        def done(result: GeneratedStrategy) -> None:
            self._smoke_done(result, strategy, old_code)

        return self._start("Running the smoke test in the sandbox…", work, done, new_strategy=old_code is None)

    def skip_smoke(self) -> None:
        """The trader declined: the strategy stays offered, and nothing of it runs."""
        if self._unrun is None or self._busy:
            return
        self._await_confirmation(None)
        self._show_status("Not run. Read the code before you backtest it: a backtest runs it like the smoke test.")

    def _smoke_done(self, result: GeneratedStrategy, asked: GeneratedStrategy, old_code: str | None) -> None:
        if old_code is None:
            self._generated(result)
            return
        if result.code != asked.code:  # repaired: a new change to review
            self._modified(Modification(result, old_code, code_diff(old_code, result.code)))
            return
        self._await_confirmation(None)
        self.result_view.setPlainText(describe_strategy(result))
        self._show_status("The smoke test ran; Gemini's change is as shown in the diff.")

    def _modified(self, modification: Modification) -> None:
        self._clear_offers()
        strategy = modification.strategy
        current = self._code()
        diff = modification.diff if current == modification.old_code else code_diff(current, strategy.code)
        self.result_view.setPlainText(describe_strategy(strategy))
        if not diff:
            self._show_status("Gemini's version is the same as the code in the editor: nothing to change.")
            return
        if strategy.smoke_pending:
            self._await_confirmation((strategy, modification.old_code))
        note = "" if current == modification.old_code else " (the diff is against the editor's code as it is now)"
        dialog = DiffDialog(
            diff,
            summary=f"{strategy.explanation}\n\n{smoke_text(strategy)} {attempts_summary(strategy.attempts)}" + note,
            title=f"Gemini's change to {strategy.class_name}",
            parent=self,
        )
        dialog.accepted.connect(lambda: self._apply_modification(strategy))
        dialog.rejected.connect(lambda: self._discard_modification(strategy))
        dialog.finished.connect(dialog.deleteLater)
        self.diff_dialog = dialog
        dialog.open()  # window-modal, no nested event loop
        unrun = " It has not run yet: see the warning below the result." if strategy.smoke_pending else ""
        self._show_status(f"Review Gemini's change: Apply puts it in the editor (not saved), Discard drops it.{unrun}")

    def _discard_modification(self, strategy: GeneratedStrategy) -> None:
        if self._unrun is not None and self._unrun[0] is strategy:  # nothing left to smoke-test
            self._await_confirmation(None)
        self._show_status("Change discarded; the editor is as it was.")

    def _apply_modification(self, strategy: GeneratedStrategy) -> None:
        note = "Gemini's change is in the editor: Save stores it as a new version (Ctrl+Z undoes it)."
        self.proposalAccepted.emit(proposal_of(strategy, as_new=False, note=note))
        if strategy.family_source == "model":
            self._remember_model_family(strategy.code, strategy.family)
        self._show_status("Applied to the editor; not saved yet.")

    def _explained(self, code: str, explanation: Explanation) -> None:
        self._clear_offers()
        self.result_view.setPlainText(describe_explanation(explanation))
        if explanation.family_source == "model":
            self._remember_model_family(code, explanation.family)
        self._show_status("Explained by Gemini (the code was not run or changed).")

    # --- into the editor ---
    def open_in_editor(self) -> None:
        """The offered strategy into the editor as a new, unsaved strategy."""
        result = self._offer
        if result is None or self._busy:
            return
        note = "Gemini's strategy is in the editor, not saved: check the name and explanation, then Save."
        self.proposalAccepted.emit(proposal_of(result, as_new=True, note=note))
        self._show_status("Opened in the editor as a new strategy; Save stores it.")

    def open_last_attempt(self) -> None:
        """A failed generation's last code into the editor (new strategy, or replacing the code for a change),
        with the problems it still has listed, so the trader can fix it by hand."""
        if self._failure is None or self._busy:
            return
        failure, as_new = self._failure
        try:
            classes = strategy_classes(failure.last_code)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            classes = []
        listed = "\n".join(f"  - {p}" for p in failure.problems)
        self.proposalAccepted.emit(
            AiProposal(
                code=failure.last_code,
                name=suggested_name(classes[0] if classes else None),
                explanation=None,
                as_new=as_new,
                note=f"Gemini's last attempt is in the editor, not saved. It still has these problems:\n{listed}",
                problems=failure.problems,
            )
        )
        self._show_status("The last attempt is in the editor with its problems; fix them, then Save.")


def _button(name: str, text: str, tooltip: str, slot: Callable[[], object]) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.setToolTip(tooltip)
    button.clicked.connect(lambda: slot())  # not clicked's `checked` argument
    return button


def _label(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label
