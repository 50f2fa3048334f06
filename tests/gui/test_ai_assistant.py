"""The strategy editor's AI tab, driven as a trader would: the real google-genai client talks to the scripted
Gemini stand-in on loopback, every model call runs on the runner's worker thread, and the database is real."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QLabel, QLineEdit, QPlainTextEdit, QProgressBar, QPushButton, QTabWidget, QWidget
from pytestqt.qtbot import QtBot

from app.async_runner import BlockingRunner
from app.views.ai_assistant import (
    CANCELLING_MESSAGE,
    NO_KEY_MESSAGE,
    AiAssistant,
    parse_symbols,
    suggested_name,
)
from app.views.diff_dialog import ADDED, REMOVED, DiffDialog, line_kind
from app.views.strategy_editor import NEW_STRATEGY_TEMPLATE, StrategyEditorPanel
from core.accounts import AccountService
from core.accounts.secrets import SecretStore
from core.ai import GeminiSettings, StrategyGenerator
from core.db.database import Database
from core.db.models import Strategy as StrategyRow
from core.services.strategy_drafts import StrategyDrafts
from core.strategy.code_trust import CodeOrigin, needs_confirmation
from core.strategy.library import list_strategies, versions
from core.strategy.sandbox.confinement import ConfinementLevel
from tests.ai.confinement import NO_LANDLOCK, confine, record_smoke_runs
from tests.ai.gemini_standin import (
    GeminiStandIn,
    json_reply,
    rate_limited,
    strategy_answer,
    strategy_reply,
    text_reply,
)
from tests.ai.sources import READS_BEFORE_THE_START, SMA_CROSS, SMA_CROSS_SLOWER, USES_GETATTR, malicious
from tests.gui.conftest import STRONG_PASSWORD

TIMEOUT = 15_000
LEFT = Qt.MouseButton.LeftButton
REQUEST = "Buy when the 8-bar average crosses above the 30-bar average, sell when it crosses back."


@pytest.fixture(autouse=True)
def _isolated_environment(no_gemini_redirects: None) -> None:
    """No request leaves the machine and no developer key is picked up (as in tests/strategy/ai)."""


@pytest.fixture(autouse=True)
def _fully_confined(monkeypatch: pytest.MonkeyPatch) -> None:
    """Answers are smoke-tested at once (FULL confinement) unless a test asks for less, whatever this machine's
    sandbox manages."""
    confine(monkeypatch, ConfinementLevel.FULL)


@pytest.fixture
def smoke_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The code of every smoke backtest started, on whatever thread (the real one still runs)."""
    return record_smoke_runs(monkeypatch)


@pytest.fixture
def settings(gemini_settings: GeminiSettings) -> GeminiSettings:
    return gemini_settings


@pytest.fixture
def user_id(accounts: AccountService) -> uuid.UUID:
    return accounts.sign_up("ada@example.com", "ada", STRONG_PASSWORD).id


class RecordingGenerator(StrategyGenerator):
    """A real generator that remembers being closed."""

    closed = False

    def close(self) -> None:
        self.closed = True
        super().close()


PanelMaker = Callable[..., StrategyEditorPanel]


@pytest.fixture
def make_panel(
    qtbot: QtBot, db: Database, user_id: uuid.UUID, runner: BlockingRunner, gemini: GeminiStandIn
) -> Iterator[PanelMaker]:
    """make(settings=..., factory=...): an editor panel on its AI tab whose generator talks to the stand-in
    (``factory`` replaces that; ``None`` keeps the app's default), once its key check is done."""
    built: list[RecordingGenerator] = []

    def make(settings: GeminiSettings | None = None, factory: Any = "standin") -> StrategyEditorPanel:
        if factory == "standin":

            def factory() -> StrategyGenerator:
                built.append(RecordingGenerator(gemini.key, settings=settings))
                return built[-1]

        p = StrategyEditorPanel(StrategyDrafts(db.session_factory), user_id, runner, generator_factory=factory)
        p.built = built  # type: ignore[attr-defined]
        qtbot.addWidget(p)
        p.resize(1400, 800)
        p.show()
        tabs = p.findChild(QTabWidget, "editorSideTabs")
        tabs.setCurrentWidget(p.ai)
        qtbot.waitUntil(
            lambda: p.analysis is not None and p.ai.has_key is not None and runner.pending_tasks == 0, timeout=TIMEOUT
        )
        return p

    yield make
    qtbot.waitUntil(lambda: runner.pending_tasks == 0, timeout=TIMEOUT)  # no call outlives the stand-in


@pytest.fixture
def panel(make_panel: PanelMaker, settings: GeminiSettings) -> StrategyEditorPanel:
    return make_panel(settings)


def child(panel: StrategyEditorPanel, kind: type, name: str) -> Any:
    widget = panel.findChild(kind, name)
    assert widget is not None, name
    return widget


def ask(qtbot: QtBot, panel: StrategyEditorPanel, button: str, prompt: str = REQUEST) -> None:
    """Type the prompt, press ``button``, and wait for the model call to end."""
    prompt_edit = child(panel, QPlainTextEdit, "aiPrompt")
    prompt_edit.setPlainText(prompt)
    qtbot.mouseClick(child(panel, QPushButton, button), LEFT)
    assert panel.ai.busy
    qtbot.waitUntil(lambda: not panel.ai.busy, timeout=TIMEOUT)


def result_text(panel: StrategyEditorPanel) -> str:
    return child(panel, QPlainTextEdit, "aiResult").toPlainText()


def error_text(panel: StrategyEditorPanel) -> str:
    return child(panel, QLabel, "aiError").text()


def model_buttons(panel: StrategyEditorPanel) -> list[QPushButton]:
    return [child(panel, QPushButton, "generateButton"), child(panel, QPushButton, "modifyButton")]


def wait_checked(qtbot: QtBot, panel: StrategyEditorPanel) -> None:
    qtbot.waitUntil(lambda: panel.analysis is not None and panel.editor.toPlainText() is not None, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not panel.validation_timer.isActive(), timeout=TIMEOUT)


# --- generate ---------------------------------------------------------------------------------------------------


def test_a_generated_strategy_is_shown_then_opened_unsaved_and_saved_as_ai(
    qtbot: QtBot, panel: StrategyEditorPanel, gemini: GeminiStandIn, db: Database, user_id: uuid.UUID
) -> None:
    gemini.queue(
        strategy_reply(
            SMA_CROSS,
            class_name="GeminiCross",
            explanation="Rides trends: long while the fast average leads.",
            symbols=["AAPL"],
            timeframe="5Min",
            family="trend",
        )
    )
    child(panel, QLineEdit, "aiSymbols").setText("aapl")
    panel.ai.timeframe_combo.setCurrentText("5Min")
    ask(qtbot, panel, "generateButton")

    assert error_text(panel) == ""
    shown = result_text(panel)
    assert "Rides trends: long while the fast average leads." in shown
    assert "Family: trend (Gemini)" in shown
    assert "Smoke test:" in shown and "trades on 1,000 simulated 5Min bars" in shown
    assert "total return" in shown and "max drawdown" in shown
    assert "first attempt" in shown
    ((_, sent),) = gemini.requests[0].turns
    assert REQUEST in sent and "AAPL" in sent and "5Min" in sent
    # Offered, not applied: the editor still holds the template.
    assert panel.editor.toPlainText() == NEW_STRATEGY_TEMPLATE
    open_button = child(panel, QPushButton, "aiOpenButton")
    assert open_button.isVisible() and open_button.isEnabled()

    qtbot.mouseClick(open_button, LEFT)
    assert panel.editor.toPlainText() == SMA_CROSS
    assert child(panel, QLineEdit, "strategyName").text() == "Gemini Cross"
    assert child(panel, QPlainTextEdit, "logicExplanation").toPlainText() == (
        "Rides trends: long while the fast average leads."
    )
    assert panel.current_strategy is None and panel.is_dirty() and panel.ai_sourced
    assert list_strategies(db.session_factory, user_id) == []  # nothing saved until Save
    qtbot.waitUntil(lambda: panel.params_form.values() == {"size": 1.0, "fast": 8, "slow": 30}, timeout=TIMEOUT)

    with qtbot.waitSignal(panel.strategySaved, timeout=TIMEOUT) as saved:
        qtbot.mouseClick(child(panel, QPushButton, "saveButton"), LEFT)
    strategy = saved.args[0]
    assert [v.source for v in versions(db.session_factory, user_id, strategy.id)] == ["ai"]
    with db.session_factory() as s:
        row = s.get(StrategyRow, strategy.id)
        assert row is not None
        assert (row.implied_strategy_family, row.timeframes, row.symbols) == ("trend", ["5Min"], ["AAPL"])
    assert not panel.ai_sourced  # the trader's later edits are their own


def test_an_answer_repaired_after_a_refusal_says_so(
    qtbot: QtBot, panel: StrategyEditorPanel, gemini: GeminiStandIn
) -> None:
    gemini.queue(strategy_reply(USES_GETATTR), strategy_reply(SMA_CROSS, class_name="GeminiCross"))
    ask(qtbot, panel, "generateButton")
    assert "Repaired after 2 attempts" in result_text(panel)
    assert len(gemini.requests) == 2 and child(panel, QPushButton, "aiOpenButton").isVisible()


def test_malicious_answers_end_in_a_red_failure_and_nothing_reaches_the_editor_unasked(
    qtbot: QtBot, panel: StrategyEditorPanel, gemini: GeminiStandIn, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    gemini.queue(*(strategy_reply(code) for code in malicious(str(marker)).values()))
    ask(qtbot, panel, "generateButton")

    error = child(panel, QLabel, "aiError")
    assert "still failed the checks after 3 attempts" in error.text()
    assert "#d32f2f" in error.styleSheet()
    assert panel.editor.toPlainText() == NEW_STRATEGY_TEMPLATE
    assert not child(panel, QPushButton, "aiOpenButton").isVisible()
    assert not marker.exists()
    assert all(b.isEnabled() for b in model_buttons(panel))

    attempt = child(panel, QPushButton, "aiOpenAttemptButton")
    assert attempt.isVisible()
    qtbot.mouseClick(attempt, LEFT)
    last = list(malicious(str(marker)).values())[-1]
    assert panel.editor.toPlainText() == last and panel.current_strategy is None
    editor_error = child(panel, QLabel, "editorError").text()
    assert "last attempt is in the editor, not saved" in editor_error and "__import__" in editor_error
    qtbot.waitUntil(lambda: panel.editor.problem_lines() != [], timeout=TIMEOUT)  # the live check marks the line
    assert not marker.exists()


def test_a_rate_limit_is_shown_and_the_buttons_come_back(
    qtbot: QtBot, panel: StrategyEditorPanel, gemini: GeminiStandIn
) -> None:
    gemini.queue(rate_limited(retry_after="20"))
    ask(qtbot, panel, "generateButton")
    assert "rate limit" in error_text(panel) and "wait 20 seconds and try again" in error_text(panel)
    assert all(b.isEnabled() for b in model_buttons(panel))
    assert child(panel, QPushButton, "explainButton").isEnabled()
    assert not child(panel, QPushButton, "aiCancelButton").isEnabled()
    assert not child(panel, QProgressBar, "aiBusy").isVisible()


def test_a_slow_gemini_times_out_with_a_message(
    qtbot: QtBot, make_panel: PanelMaker, settings: GeminiSettings, gemini: GeminiStandIn
) -> None:
    panel = make_panel(dataclasses.replace(settings, timeout_s=0.5))
    gemini.queue(
        text_reply(json.dumps(strategy_answer(SMA_CROSS)), delay_s=30)
    )  # the stand-in's stop() ends the wait at teardown
    ask(qtbot, panel, "generateButton")
    assert "Gemini did not answer within 0.5 seconds" in error_text(panel)
    assert all(b.isEnabled() for b in model_buttons(panel))


# --- the smoke test waits for the trader where the sandbox is not fully confined --------------------------------


def confirmation(panel: StrategyEditorPanel) -> QWidget:
    return child(panel, QWidget, "aiSmokeConfirmation")


def test_with_partial_confinement_an_answer_is_shown_but_runs_only_once_confirmed(
    qtbot: QtBot, panel: StrategyEditorPanel, gemini: GeminiStandIn, smoke_runs: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    partial = confine(monkeypatch, ConfinementLevel.PARTIAL)
    gemini.queue(strategy_reply(SMA_CROSS, class_name="GeminiCross", explanation="Rides trends."))
    ask(qtbot, panel, "generateButton")

    warning = needs_confirmation(CodeOrigin.AI, partial)
    assert warning is not None and NO_LANDLOCK in warning
    shown = result_text(panel)
    assert "Rides trends." in shown and "Smoke test: not run yet." in shown and warning in shown
    assert confirmation(panel).isVisible()
    assert child(panel, QLabel, "aiRunWarning").text() == warning  # the view shows what the rule returned
    run = child(panel, QPushButton, "aiRunSmokeButton")
    assert run.text() == "Run the smoke test" and run.isEnabled()
    assert child(panel, QPushButton, "aiOpenButton").isVisible()  # reading it in the editor runs nothing
    assert smoke_runs == [] and panel.ai.awaiting_confirmation is not None

    qtbot.mouseClick(run, LEFT)
    assert panel.ai.busy
    qtbot.waitUntil(lambda: not panel.ai.busy, timeout=TIMEOUT)
    assert smoke_runs == [SMA_CROSS] and error_text(panel) == ""
    shown = result_text(panel)
    assert "trades on 1,000 simulated 1Min bars" in shown and "not run yet" not in shown
    assert not confirmation(panel).isVisible() and panel.ai.awaiting_confirmation is None
    assert panel.ai.offered is not None and panel.ai.offered.smoke is not None
    assert len(gemini.requests) == 1  # it passed: no repair turn


def test_declining_the_smoke_test_never_runs_the_answer(
    qtbot: QtBot, panel: StrategyEditorPanel, gemini: GeminiStandIn, smoke_runs: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    confine(monkeypatch, ConfinementLevel.NONE)
    gemini.queue(strategy_reply(SMA_CROSS, class_name="GeminiCross"))
    ask(qtbot, panel, "generateButton")
    assert confirmation(panel).isVisible()

    qtbot.mouseClick(child(panel, QPushButton, "aiSkipSmokeButton"), LEFT)
    assert not confirmation(panel).isVisible() and panel.ai.awaiting_confirmation is None
    assert child(panel, QLabel, "aiStatus").text().startswith("Not run.")
    qtbot.mouseClick(child(panel, QPushButton, "aiOpenButton"), LEFT)  # still offered, to read
    assert panel.editor.toPlainText() == SMA_CROSS
    wait_checked(qtbot, panel)
    qtbot.waitUntil(lambda: panel._runner.pending_tasks == 0, timeout=TIMEOUT)
    assert smoke_runs == [] and not panel.ai.busy


def test_a_confirmed_smoke_failure_is_repaired_by_the_model(
    qtbot: QtBot, panel: StrategyEditorPanel, gemini: GeminiStandIn, smoke_runs: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    confine(monkeypatch, ConfinementLevel.PARTIAL)
    gemini.queue(strategy_reply(READS_BEFORE_THE_START), strategy_reply(SMA_CROSS, class_name="GeminiCross"))
    ask(qtbot, panel, "generateButton")
    assert smoke_runs == [] and len(gemini.requests) == 1

    qtbot.mouseClick(child(panel, QPushButton, "aiRunSmokeButton"), LEFT)
    qtbot.waitUntil(lambda: not panel.ai.busy, timeout=TIMEOUT)
    assert smoke_runs == [READS_BEFORE_THE_START, SMA_CROSS] and len(gemini.requests) == 2
    assert "Repaired after 2 attempts" in result_text(panel)
    assert panel.ai.offered is not None and panel.ai.offered.code == SMA_CROSS


def test_with_full_confinement_the_answer_is_smoke_tested_at_once(
    qtbot: QtBot, panel: StrategyEditorPanel, gemini: GeminiStandIn, smoke_runs: list[str]
) -> None:
    gemini.queue(strategy_reply(SMA_CROSS))
    ask(qtbot, panel, "generateButton")
    assert smoke_runs == [SMA_CROSS] and "Smoke test: " in result_text(panel)
    assert not confirmation(panel).isVisible() and panel.ai.awaiting_confirmation is None


def test_a_change_not_yet_run_is_shown_as_a_diff_with_the_warning(
    qtbot: QtBot, panel: StrategyEditorPanel, gemini: GeminiStandIn, smoke_runs: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    confine(monkeypatch, ConfinementLevel.PARTIAL)
    panel.editor.setPlainText(SMA_CROSS)
    wait_checked(qtbot, panel)
    gemini.queue(strategy_reply(SMA_CROSS_SLOWER, explanation="The same cross, slower."))
    ask(qtbot, panel, "modifyButton", "make it slower")
    dialog = panel.ai.diff_dialog
    assert isinstance(dialog, DiffDialog)
    qtbot.waitUntil(dialog.isVisible, timeout=TIMEOUT)
    assert "Smoke test: not run yet." in dialog.summary_label.text() and NO_LANDLOCK in dialog.summary_label.text()
    qtbot.mouseClick(dialog.apply_button, LEFT)
    assert panel.editor.toPlainText() == SMA_CROSS_SLOWER and smoke_runs == []
    assert confirmation(panel).isVisible()

    qtbot.mouseClick(child(panel, QPushButton, "aiRunSmokeButton"), LEFT)
    qtbot.waitUntil(lambda: not panel.ai.busy, timeout=TIMEOUT)
    assert smoke_runs == [SMA_CROSS_SLOWER] and not confirmation(panel).isVisible()
    assert "Smoke test: " in result_text(panel) and "not run yet" not in result_text(panel)
    assert panel.editor.toPlainText() == SMA_CROSS_SLOWER


# --- modify and explain -------------------------------------------------------------------------------------------


def test_a_change_is_shown_as_a_diff_and_applied_only_on_apply(
    qtbot: QtBot, panel: StrategyEditorPanel, gemini: GeminiStandIn
) -> None:
    panel.editor.setPlainText(SMA_CROSS)
    wait_checked(qtbot, panel)
    gemini.queue(
        strategy_reply(SMA_CROSS_SLOWER, explanation="The same cross, slower."),
        strategy_reply(SMA_CROSS_SLOWER, explanation="The same cross, slower."),
    )

    ask(qtbot, panel, "modifyButton", "make it slower")
    dialog = panel.ai.diff_dialog
    assert isinstance(dialog, DiffDialog)
    qtbot.waitUntil(dialog.isVisible, timeout=TIMEOUT)
    assert SMA_CROSS in gemini.requests[0].turns[0][1]  # the editor's code went with the request
    diff = dialog.diff_view.toPlainText()
    assert "-    fast = Param(8, min=2" in diff and "+    fast = Param(12, min=2" in diff
    assert ADDED in dialog.line_kinds() and REMOVED in dialog.line_kinds()
    assert "The same cross, slower." in dialog.summary_label.text()
    qtbot.mouseClick(dialog.discard_button, LEFT)
    assert panel.editor.toPlainText() == SMA_CROSS  # Discard changes nothing

    ask(qtbot, panel, "modifyButton", "make it slower")
    dialog = panel.ai.diff_dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible, timeout=TIMEOUT)
    qtbot.mouseClick(dialog.apply_button, LEFT)
    assert panel.editor.toPlainText() == SMA_CROSS_SLOWER
    assert child(panel, QPlainTextEdit, "logicExplanation").toPlainText() == "The same cross, slower."
    assert panel.ai_sourced and panel.current_strategy is None  # still not saved
    panel.editor.undo()
    assert panel.editor.toPlainText() == SMA_CROSS  # one undoable edit


def test_explain_shows_gemini_s_text_and_family(
    qtbot: QtBot, panel: StrategyEditorPanel, gemini: GeminiStandIn
) -> None:
    gemini.queue(
        json_reply(
            {"summary": "Follows trends.", "explanation": "It buys when the fast average leads.", "family": "trend"}
        )
    )
    ask(qtbot, panel, "explainButton", "")
    shown = result_text(panel)
    assert "Follows trends." in shown and "It buys when the fast average leads." in shown
    assert "Family: trend (Gemini)" in shown
    assert NEW_STRATEGY_TEMPLATE in gemini.requests[0].turns[0][1]
    model_family = child(panel, QLabel, "aiModelFamily")
    assert model_family.text() == "Family (Gemini): trend"

    panel.editor.setPlainText(NEW_STRATEGY_TEMPLATE + "\n# edited\n")
    qtbot.waitUntil(lambda: "before your latest edits" in model_family.text(), timeout=TIMEOUT)


def test_an_empty_prompt_is_refused_in_the_trader_s_words(
    qtbot: QtBot, panel: StrategyEditorPanel, gemini: GeminiStandIn
) -> None:
    ask(qtbot, panel, "generateButton", "   ")
    assert "describe the strategy" in error_text(panel)
    assert gemini.requests == []


# --- no key -------------------------------------------------------------------------------------------------------


def test_without_a_key_the_model_buttons_say_where_to_add_one_and_the_analysis_still_works(
    qtbot: QtBot, make_panel: PanelMaker, gemini: GeminiStandIn
) -> None:
    panel = make_panel(factory=None)  # the app's default: StrategyGenerator.from_secret_store (empty keyring)
    assert panel.ai.has_key is False
    for button in model_buttons(panel):
        assert not button.isEnabled() and button.toolTip() == NO_KEY_MESSAGE
    assert NO_KEY_MESSAGE in child(panel, QLabel, "aiKeyMessage").text()
    assert child(panel, QLabel, "aiFamily").text() == "Family (code analysis): trend"  # the template's SMA cross

    explain = child(panel, QPushButton, "explainButton")
    assert explain.isEnabled()
    qtbot.mouseClick(explain, LEFT)
    shown = result_text(panel)
    assert "Family (code analysis): trend" in shown and "calls sma" in shown
    assert gemini.requests == []

    # A key added in Settings is found the next time the tab is shown.
    SecretStore().set_gemini_key(gemini.key)
    tabs = child(panel, QTabWidget, "editorSideTabs")
    tabs.setCurrentIndex(0)
    tabs.setCurrentWidget(panel.ai)
    qtbot.waitUntil(lambda: all(b.isEnabled() for b in model_buttons(panel)), timeout=TIMEOUT)
    assert not child(panel, QLabel, "aiKeyMessage").isVisible()


# --- responsiveness, cancel, lifetime -------------------------------------------------------------------------------


def test_the_window_keeps_working_while_gemini_thinks_and_cancel_waits_for_the_request(
    qtbot: QtBot, panel: StrategyEditorPanel, gemini: GeminiStandIn
) -> None:
    gemini.queue(text_reply(json.dumps(strategy_answer(SMA_CROSS)), delay_s=1.5))
    prompt = child(panel, QPlainTextEdit, "aiPrompt")
    prompt.setPlainText(REQUEST)
    qtbot.mouseClick(child(panel, QPushButton, "generateButton"), LEFT)
    busy_bar = child(panel, QProgressBar, "aiBusy")
    qtbot.waitUntil(lambda: panel.ai.busy and busy_bar.isVisible() and gemini.requests != [], timeout=TIMEOUT)

    # The GUI thread is free: timers fire and typing lands while the request is pending.
    fired: list[bool] = []
    QTimer.singleShot(0, lambda: fired.append(True))
    prompt.moveCursor(QTextCursor.MoveOperation.End)
    qtbot.keyClicks(prompt, " Also")
    qtbot.waitUntil(lambda: fired == [True], timeout=TIMEOUT)
    assert prompt.toPlainText().endswith(" Also") and panel.ai.busy
    assert not any(b.isEnabled() for b in model_buttons(panel))

    cancel = child(panel, QPushButton, "aiCancelButton")
    assert cancel.isEnabled()
    qtbot.mouseClick(cancel, LEFT)
    assert child(panel, QLabel, "aiStatus").text() == CANCELLING_MESSAGE
    assert panel.ai.busy and not cancel.isEnabled()  # the request already sent finishes first
    qtbot.waitUntil(lambda: not panel.ai.busy, timeout=TIMEOUT)
    assert child(panel, QLabel, "aiStatus").text() == "Cancelled; nothing changed."
    assert error_text(panel) == "" and panel.ai.offered is None
    assert panel.editor.toPlainText() == NEW_STRATEGY_TEMPLATE
    assert all(b.isEnabled() for b in model_buttons(panel))


def test_the_generator_is_closed_when_the_panel_closes(qtbot: QtBot, make_panel: PanelMaker) -> None:
    panel = make_panel()
    (generator,) = panel.built  # type: ignore[attr-defined]
    assert not generator.closed
    panel.close()
    assert generator.closed and panel.ai.generator is None


def test_the_generator_is_closed_when_the_panel_is_destroyed(
    qtbot: QtBot, db: Database, user_id: uuid.UUID, runner: BlockingRunner, settings: GeminiSettings
) -> None:
    built: list[RecordingGenerator] = []

    def factory() -> StrategyGenerator:
        built.append(RecordingGenerator("AIza-unused", settings=settings))
        return built[-1]

    panel = StrategyEditorPanel(StrategyDrafts(db.session_factory), user_id, runner, generator_factory=factory)
    qtbot.waitUntil(lambda: built != [] and runner.pending_tasks == 0, timeout=TIMEOUT)
    with qtbot.waitSignal(panel.destroyed, timeout=TIMEOUT):
        panel.deleteLater()
    assert built[0].closed


# --- pieces ---------------------------------------------------------------------------------------------------------


def test_names_symbols_and_diff_lines() -> None:
    assert suggested_name("GeminiRsiDip") == "Gemini Rsi Dip"
    assert suggested_name("SMACross") == "SMA Cross"
    assert suggested_name("") == "AI strategy"
    assert parse_symbols(" aapl, MSFT;spy  aapl") == ("AAPL", "MSFT", "SPY")
    assert [line_kind(x) for x in ("--- a", "+++ b", "@@ -1 +1 @@", "+x", "-y", " z")] == [
        "header", "header", "hunk", "added", "removed", "context",
    ]  # fmt: skip
    assert AiAssistant.__doc__
