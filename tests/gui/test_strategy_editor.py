"""The strategy editor panel, driven as a trader would, against a real database; and its code editor."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pygments.token import Keyword, String
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QHelpEvent, QTextCursor
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QToolTip,
)
from pytestqt.qtbot import QtBot

from app.async_runner import BlockingRunner
from app.views.ai_assistant import NO_KEY_MESSAGE
from app.views.code_editor import IN_DOUBLE, IN_SINGLE, NORMAL, CodeEditor, ProblemList, lex_line
from app.views.params_form import ParamsForm
from app.views.strategy_editor import NEW_STRATEGY_TEMPLATE, StrategyEditorPanel
from core.accounts import AccountService
from core.db.database import Database
from core.services.strategy_drafts import StrategyDrafts
from core.strategy.declared_params import declared_params
from core.strategy.library import SavedStrategy, StrategyDraft, list_strategies, load_strategy, save_strategy
from core.strategy.sandbox import validate_source
from core.strategy.sandbox.validator import Problem
from tests.backtest.test_sandboxed_backtest import CROSS, SIGNALS
from tests.gui.conftest import STRONG_PASSWORD

TIMEOUT = 10_000
LEFT = Qt.MouseButton.LeftButton

# CROSS with a forbidden import on line 3.
WITH_OS = CROSS.replace(
    "from core.strategy.indicators import sma\n", "from core.strategy.indicators import sma\nimport os\n"
)

TWO_CLASSES = """\
from core.strategy.api import Param, SignalStrategy, Strategy


class Breakout(Strategy):
    lookback = Param(20, min=5, max=250)

    def next(self, data):
        pass


class Dip(SignalStrategy):
    drop = Param(0.05, min=0.01, max=0.5, step=0.01)
    side = Param("long", choices=("long", "short"))

    def signals(self, data):
        return data.close < 0, data.close > 0
"""


@pytest.fixture(autouse=True)
def _no_gemini_key_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The AI tab looks for a key (the keyring is the tests' empty in-memory one): never the developer's."""
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)


@pytest.fixture
def user_id(accounts: AccountService) -> uuid.UUID:
    return accounts.sign_up("ada@example.com", "ada", STRONG_PASSWORD).id


@pytest.fixture
def panel(qtbot: QtBot, db: Database, user_id: uuid.UUID, runner: BlockingRunner) -> Iterator[StrategyEditorPanel]:
    p = StrategyEditorPanel(StrategyDrafts(db.session_factory), user_id, runner)
    qtbot.addWidget(p)
    p.resize(1400, 800)
    p.show()
    qtbot.waitUntil(lambda: p.analysis is not None and runner.pending_tasks == 0, timeout=TIMEOUT)
    yield p
    qtbot.waitUntil(lambda: runner.pending_tasks == 0, timeout=TIMEOUT)  # no query outlives the test's rows


def child(panel: StrategyEditorPanel, kind: type, name: str) -> Any:
    widget = panel.findChild(kind, name)
    assert widget is not None, name
    return widget


def write(qtbot: QtBot, panel: StrategyEditorPanel, name: str, code: str, explanation: str = "") -> None:
    name_edit = child(panel, QLineEdit, "strategyName")
    name_edit.clear()
    qtbot.keyClicks(name_edit, name)
    panel.editor.setPlainText(code)
    if explanation:
        qtbot.keyClicks(child(panel, QPlainTextEdit, "logicExplanation"), explanation)


def click_save(qtbot: QtBot, panel: StrategyEditorPanel) -> SavedStrategy:
    with qtbot.waitSignal(panel.strategySaved, timeout=TIMEOUT) as saved:
        qtbot.mouseClick(child(panel, QPushButton, "saveButton"), LEFT)
    return saved.args[0]


def error_text(panel: StrategyEditorPanel) -> str:
    return child(panel, QLabel, "editorError").text()


def wait_refused(qtbot: QtBot, panel: StrategyEditorPanel) -> None:
    qtbot.waitUntil(lambda: error_text(panel).startswith("Not saved") and not panel.busy, timeout=TIMEOUT)


# --- saving and versions ---------------------------------------------------------------------------------


def test_saving_lists_the_strategy_and_each_change_is_a_new_version(
    qtbot: QtBot, panel: StrategyEditorPanel, db: Database, user_id: uuid.UUID
) -> None:
    write(qtbot, panel, "Cross", CROSS, "buys when the fast average crosses the slow one")
    first = click_save(qtbot, panel)

    assert (first.name, first.version, first.classes) == ("Cross", 1, ("Cross",))
    assert panel.listed_names() == ["Cross"]
    assert panel.versions_shown() == [1]
    assert child(panel, QLabel, "editorStatus").text() == "Saved “Cross” as version 1."
    stored = list_strategies(db.session_factory, user_id)
    assert [(s.name, s.version, s.python_code) for s in stored] == [("Cross", 1, CROSS)]
    assert stored[0].logic_explanation == "buys when the fast average crosses the slow one"
    assert stored[0].parameters == {"fast": 10, "slow": 30}  # the form's values, from the declarations

    editor = panel.editor
    editor.moveCursor(QTextCursor.MoveOperation.End)
    qtbot.keyClicks(editor, "# tuned")
    assert child(panel, QLabel, "unsavedLabel").text() == "unsaved changes"
    qtbot.keyClicks(child(panel, QLineEdit, "changeNote"), "a comment")
    second = click_save(qtbot, panel)

    assert (second.id, second.version) == (first.id, 2)
    assert panel.versions_shown() == [2, 1]
    assert child(panel, QListWidget, "versionsList").item(0).text().endswith("· a comment")
    assert load_strategy(db.session_factory, user_id, first.id).python_code == CROSS + "# tuned"
    assert child(panel, QLabel, "unsavedLabel").text() == ""
    assert child(panel, QLineEdit, "changeNote").text() == ""


def test_ctrl_s_saves(qtbot: QtBot, panel: StrategyEditorPanel) -> None:
    write(qtbot, panel, "Sig", SIGNALS)
    panel.activateWindow()
    panel.editor.setFocus()
    with qtbot.waitSignal(panel.strategySaved, timeout=TIMEOUT) as saved:
        qtbot.keyClick(panel.editor, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert saved.args[0].classes == ("Sig",)
    assert panel.editor.toPlainText() == SIGNALS  # the shortcut typed nothing


def test_rule_breaking_code_is_marked_at_its_line_and_not_saved(
    qtbot: QtBot, panel: StrategyEditorPanel, db: Database, user_id: uuid.UUID
) -> None:
    expected = validate_source(WITH_OS).problems
    assert [p.line for p in expected] == [3]
    write(qtbot, panel, "Bad", WITH_OS)
    qtbot.mouseClick(child(panel, QPushButton, "saveButton"), LEFT)
    wait_refused(qtbot, panel)

    assert "breaks 1 sandbox rule" in error_text(panel)
    assert panel.editor.problem_lines() == [3]
    assert panel.editor.problems() == list(expected)
    marked = {(s.cursor.blockNumber() + 1, s.format.toolTip()) for s in panel.editor.extraSelections()}
    assert marked == {(3, expected[0].message)}
    assert panel.problem_list.lines() == [3] and panel.problem_list.isVisibleTo(panel)
    assert panel.problem_list.item(0).text() == str(expected[0])
    assert panel.editor.current_line() == 3  # the editor jumped to the first problem
    assert list_strategies(db.session_factory, user_id) == []
    assert panel.listed_names() == [] and panel.current_strategy is None


def test_live_validation_marks_problems_once_typing_stops(
    qtbot: QtBot, panel: StrategyEditorPanel, db: Database, user_id: uuid.UUID
) -> None:
    panel.editor.setPlainText(CROSS)
    qtbot.waitUntil(lambda: panel.analysis is not None and panel.analysis.classes == ("Cross",), timeout=TIMEOUT)
    assert panel.editor.problem_lines() == []

    panel.editor.moveCursor(QTextCursor.MoveOperation.End)
    line = panel.editor.current_line()
    qtbot.keyClicks(panel.editor, 'x = eval("1")')  # no click: the check runs after the pause
    qtbot.waitUntil(lambda: panel.editor.problem_lines() == [line], timeout=TIMEOUT)

    assert "eval" in panel.editor.problem_text(line)
    assert list_strategies(db.session_factory, user_id) == []

    panel.editor.undo()  # the typing is gone: so is the mark
    qtbot.waitUntil(lambda: panel.editor.problem_lines() == [], timeout=TIMEOUT)


def test_validate_reports_the_verdict_without_saving(
    qtbot: QtBot, panel: StrategyEditorPanel, db: Database, user_id: uuid.UUID
) -> None:
    panel.editor.setPlainText(WITH_OS)
    qtbot.mouseClick(child(panel, QPushButton, "validateButton"), LEFT)
    qtbot.waitUntil(lambda: error_text(panel) == "1 problem found; see the marked lines.", timeout=TIMEOUT)
    assert panel.editor.problem_lines() == [3]

    panel.editor.setPlainText("from core.strategy.api import Param\n\nx = 1\n")
    qtbot.mouseClick(child(panel, QPushButton, "validateButton"), LEFT)
    qtbot.waitUntil(
        lambda: "1 problem found" in error_text(panel) and not panel.editor.problem_lines(), timeout=TIMEOUT
    )
    assert "defines no strategy class" in panel.problem_list.item(0).text()  # a whole-source problem: no line

    panel.editor.setPlainText(CROSS)
    qtbot.mouseClick(child(panel, QPushButton, "validateButton"), LEFT)
    qtbot.waitUntil(lambda: child(panel, QLabel, "editorStatus").text() == "No problems found.", timeout=TIMEOUT)
    assert error_text(panel) == "" and not panel.problem_list.isVisibleTo(panel)
    assert list_strategies(db.session_factory, user_id) == []


def test_library_refusals_are_shown_as_messages(
    qtbot: QtBot, panel: StrategyEditorPanel, db: Database, user_id: uuid.UUID
) -> None:
    write(qtbot, panel, "", CROSS)
    qtbot.mouseClick(child(panel, QPushButton, "saveButton"), LEFT)
    wait_refused(qtbot, panel)
    assert error_text(panel) == "Not saved: a strategy needs a name."

    write(qtbot, panel, "Cross", CROSS)
    click_save(qtbot, panel)
    qtbot.mouseClick(child(panel, QPushButton, "newStrategyButton"), LEFT)
    write(qtbot, panel, "Cross", SIGNALS)
    qtbot.mouseClick(child(panel, QPushButton, "saveButton"), LEFT)
    wait_refused(qtbot, panel)
    assert error_text(panel) == "Not saved: you already have a strategy named 'Cross'."
    assert [s.python_code for s in list_strategies(db.session_factory, user_id)] == [CROSS]
    assert child(panel, QPushButton, "saveButton").isEnabled()


def test_restoring_an_old_version_fills_the_editor(
    qtbot: QtBot, panel: StrategyEditorPanel, db: Database, user_id: uuid.UUID
) -> None:
    write(qtbot, panel, "Evolving", CROSS)
    first = click_save(qtbot, panel)
    panel.editor.setPlainText(SIGNALS)
    click_save(qtbot, panel)
    assert panel.versions_shown() == [2, 1]

    versions_list = child(panel, QListWidget, "versionsList")
    restore = child(panel, QPushButton, "restoreVersionButton")
    assert not restore.isEnabled()  # nothing selected yet
    versions_list.setCurrentRow(1)  # v1
    preview = child(panel, CodeEditor, "versionPreview")
    assert preview.toPlainText() == CROSS and preview.isReadOnly()
    qtbot.mouseClick(restore, LEFT)

    assert panel.editor.toPlainText() == CROSS
    assert load_strategy(db.session_factory, user_id, first.id).version == 2  # nothing saved by restoring
    panel.editor.undo()
    assert panel.editor.toPlainText() == SIGNALS  # the restore is one undoable edit


def test_opening_a_strategy_from_the_list_loads_it_and_its_versions(
    qtbot: QtBot, panel: StrategyEditorPanel, runner: BlockingRunner
) -> None:
    write(qtbot, panel, "Alpha", CROSS, "alpha logic")
    fast = child(panel, QSpinBox, "param_fast")
    fast.setValue(25)
    alpha = click_save(qtbot, panel)
    qtbot.mouseClick(child(panel, QPushButton, "newStrategyButton"), LEFT)
    assert panel.editor.toPlainText() == NEW_STRATEGY_TEMPLATE and panel.versions_shown() == []
    write(qtbot, panel, "Beta", SIGNALS)
    click_save(qtbot, panel)
    assert panel.listed_names() == ["Alpha", "Beta"]

    strategy_list = child(panel, QListWidget, "strategyList")
    strategy_list.setCurrentRow(0)
    qtbot.waitUntil(lambda: panel.current_strategy is not None and panel.current_strategy.id == alpha.id)
    qtbot.waitUntil(lambda: runner.pending_tasks == 0, timeout=TIMEOUT)  # opened, then checked

    assert panel.editor.toPlainText() == CROSS
    assert child(panel, QLineEdit, "strategyName").text() == "Alpha"
    assert child(panel, QPlainTextEdit, "logicExplanation").toPlainText() == "alpha logic"
    assert panel.versions_shown() == [1]
    assert panel.params_form.values() == {"fast": 25, "slow": 30}  # the saved values, not the defaults
    assert not panel.is_dirty()


def test_a_strategy_saved_without_parameter_values_opens_unchanged(
    qtbot: QtBot, panel: StrategyEditorPanel, db: Database, user_id: uuid.UUID, runner: BlockingRunner
) -> None:
    """Saved elsewhere (the command line, an import) with no values: its parameters run at their defaults,
    and the form showing those defaults is not an unsaved change."""
    saved = save_strategy(db.session_factory, user_id, StrategyDraft("Bare", CROSS))
    assert saved.parameters == {}
    panel.reload()
    panel.open_strategy(saved.id)
    qtbot.waitUntil(lambda: panel.current_strategy is not None and panel.current_strategy.id == saved.id)
    qtbot.waitUntil(lambda: runner.pending_tasks == 0, timeout=TIMEOUT)
    assert panel.params_form.values() == {"fast": 10, "slow": 30}
    assert not panel.is_dirty() and child(panel, QLabel, "unsavedLabel").text() == ""
    child(panel, QSpinBox, "param_fast").setValue(12)
    assert panel.is_dirty()


def test_archive_hides_the_strategy_and_backtest_hands_it_over(
    qtbot: QtBot, panel: StrategyEditorPanel, db: Database, user_id: uuid.UUID
) -> None:
    backtest = child(panel, QPushButton, "backtestButton")
    archive = child(panel, QPushButton, "archiveStrategyButton")
    assert not backtest.isEnabled() and not archive.isEnabled()  # nothing saved yet
    write(qtbot, panel, "Cross", CROSS)
    saved = click_save(qtbot, panel)

    with qtbot.waitSignal(panel.backtestRequested, timeout=TIMEOUT) as requested:
        qtbot.mouseClick(backtest, LEFT)
    assert requested.args[0] == saved

    qtbot.mouseClick(archive, LEFT)
    qtbot.waitUntil(lambda: panel.listed_names() == [] and "Archived" in child(panel, QLabel, "editorStatus").text())
    assert panel.current_strategy is None
    assert list_strategies(db.session_factory, user_id) == []
    assert [s.id for s in list_strategies(db.session_factory, user_id, include_archived=True)] == [saved.id]


def test_without_a_gemini_key_generate_says_where_to_add_one(qtbot: QtBot, panel: StrategyEditorPanel) -> None:
    generate = child(panel, QPushButton, "generateButton")
    qtbot.waitUntil(lambda: panel.ai.has_key is not None, timeout=TIMEOUT)  # the key is looked up off the GUI thread
    assert not generate.isEnabled()
    assert generate.toolTip() == NO_KEY_MESSAGE
    assert child(panel, QPlainTextEdit, "aiPrompt").placeholderText()


# --- parameters ------------------------------------------------------------------------------------------


def test_the_params_form_shows_declared_ranges_and_its_values_are_saved(
    qtbot: QtBot, panel: StrategyEditorPanel, db: Database, user_id: uuid.UUID
) -> None:
    fast = child(panel, QSpinBox, "param_fast")  # the new-strategy template declares fast = Param(10, min=2, max=200)
    assert (fast.minimum(), fast.maximum(), fast.value()) == (2, 200, 10)
    assert fast.toolTip() == "bars in the fast moving average"
    assert panel.params_form.values() == {"fast": 10, "slow": 50}

    fast.setValue(12)
    qtbot.keyClicks(child(panel, QLineEdit, "strategyName"), "Template")
    saved = click_save(qtbot, panel)
    assert saved.parameters == {"fast": 12, "slow": 50}
    assert list_strategies(db.session_factory, user_id)[0].parameters == {"fast": 12, "slow": 50}

    panel.editor.setPlainText(SIGNALS)  # a signal strategy inherits size from the API
    qtbot.waitUntil(lambda: panel.params_form.editor("size") is not None, timeout=TIMEOUT)
    size = child(panel, QDoubleSpinBox, "param_size")
    assert (size.minimum(), size.maximum(), size.value()) == (0.01, 1.0, 1.0)
    assert panel.params_form.values() == {"size": 1.0, "fast": 12, "slow": 40}  # the changed fast is kept


def test_several_classes_offer_a_chooser_that_switches_the_params(qtbot: QtBot, panel: StrategyEditorPanel) -> None:
    chooser = child(panel, QComboBox, "strategyClass")
    assert not chooser.isVisibleTo(panel)  # the template defines one class
    panel.editor.setPlainText(TWO_CLASSES)
    qtbot.waitUntil(lambda: chooser.count() == 2, timeout=TIMEOUT)
    assert chooser.isVisibleTo(panel)
    assert [chooser.itemText(i) for i in range(2)] == ["Breakout", "Dip"]
    assert panel.params_form.values() == {"lookback": 20}

    chooser.setCurrentIndex(1)
    qtbot.waitUntil(lambda: panel.current_class() == "Dip", timeout=TIMEOUT)
    assert panel.params_form.values() == {"size": 1.0, "drop": 0.05, "side": "long"}
    side = child(panel, QComboBox, "param_side")
    assert [side.itemText(i) for i in range(side.count())] == ["long", "short"]
    drop = child(panel, QDoubleSpinBox, "param_drop")
    assert (drop.minimum(), drop.maximum(), drop.singleStep()) == (0.01, 0.5, 0.01)


def test_params_form_builds_one_input_per_kind(qtbot: QtBot) -> None:
    source = """\
class Kinds(Strategy):
    whole = Param(3, min=1, max=9)
    ratio = Param(0.25, min=0.0, max=1.0)
    enabled = Param(True)
    label = Param("breakout")
    pick = Param(5, choices=(1, 5, 9))
    computed = Param(SIZE * 2)
"""
    form = ParamsForm()
    qtbot.addWidget(form)
    form.set_params(declared_params(source, "Kinds"), {"whole": 7, "ratio": 5.0, "pick": 9})

    assert isinstance(form.findChild(QSpinBox, "param_whole"), QSpinBox)
    assert isinstance(form.findChild(QCheckBox, "param_enabled"), QCheckBox)
    assert isinstance(form.findChild(QLineEdit, "param_label"), QLineEdit)
    pick = form.findChild(QComboBox, "param_pick")
    assert [pick.itemData(i) for i in range(pick.count())] == [1, 5, 9]
    note = form.findChild(QLabel, "param_computed")
    assert note is not None and "default is computed" in note.text()
    assert form.editor("computed") is None
    # 7 and 9 are accepted; 5.0 is above ratio's max, so its default stays
    assert form.values() == {"whole": 7, "ratio": 0.25, "enabled": True, "label": "breakout", "pick": 9}
    assert form.changed_values() == {"whole": 7, "pick": 9}

    form.set_params([])
    assert form.values() == {} and form.findChild(QLabel, "paramsEmpty").isVisibleTo(form)


# --- the code editor -------------------------------------------------------------------------------------


@pytest.fixture
def editor(qtbot: QtBot) -> CodeEditor:
    e = CodeEditor()
    qtbot.addWidget(e)
    e.resize(600, 400)
    e.show()
    return e


def formats_at(editor: CodeEditor, line: int) -> list[tuple[int, int, str]]:
    block = editor.document().findBlockByNumber(line - 1)
    return [(r.start, r.length, r.format.foreground().color().name()) for r in block.layout().formats()]


def colour(editor: CodeEditor, ttype: object) -> str:
    fmt = editor.highlighter.format_for(ttype)
    assert fmt is not None
    return fmt.foreground().color().name()


def test_keywords_strings_and_multiline_strings_are_highlighted(editor: CodeEditor) -> None:
    editor.setPlainText('def f(x):\n    s = """start\nimport os\nend""" + 1\n    return s  # done\n')
    keyword, string = colour(editor, Keyword), colour(editor, String)
    assert keyword != string
    assert (0, 3, keyword) in formats_at(editor, 1)  # `def`
    assert (0, len("import os"), string) in formats_at(editor, 3)  # inside the triple-quoted string
    line4 = formats_at(editor, 4)
    assert (0, len('end"""'), string) in line4
    assert all(start + length <= len('end"""') for start, length, c in line4 if c == string)  # `+ 1` is code again
    assert (4, 6, keyword) in formats_at(editor, 5)  # `return`, after the string closed
    assert editor.document().findBlockByNumber(1).userState() == IN_DOUBLE
    assert editor.document().findBlockByNumber(3).userState() == NORMAL


def test_lex_line_tracks_triple_quotes_but_not_quotes_in_comments_or_other_strings() -> None:
    assert lex_line('x = """open')[1] == IN_DOUBLE
    assert lex_line('x = """closed"""')[1] == NORMAL
    assert lex_line("x = 1  # '''")[1] == NORMAL
    assert lex_line('still """ inside', IN_DOUBLE)[1] == NORMAL
    assert lex_line("x = '''open")[1] == IN_SINGLE
    spans, state = lex_line("a ''' b", IN_DOUBLE)  # ''' inside a """ string closes nothing
    assert state == IN_DOUBLE
    assert spans[0][0] == 0 and sum(length for _, length, _ in spans) == len("a ''' b")  # in the line's coordinates


def test_the_gutter_grows_with_the_line_count(editor: CodeEditor, qtbot: QtBot) -> None:
    editor.setPlainText("\n".join(f"x{i} = {i}" for i in range(9)))
    narrow = editor.line_number_area_width()
    editor.setPlainText("\n".join(f"x{i} = {i}" for i in range(1200)))
    wide = editor.line_number_area_width()
    assert wide > narrow
    assert editor.viewportMargins().left() == wide
    gutter = editor.line_number_area
    qtbot.waitUntil(lambda: gutter.width() == wide)
    editor.go_to_line(1000)
    assert editor.current_line() == 1000
    assert editor.firstVisibleBlock().blockNumber() > 900  # the gutter paints from the scrolled position


def test_problems_are_marked_listed_and_cleared(editor: CodeEditor, qtbot: QtBot) -> None:
    editor.setPlainText("a = 1\nb = open('x')\nc = 3\n")
    editor.set_problems([Problem(2, 4, "'open' is not available"), Problem(0, 0, "too long"), Problem(99, 0, "end")])
    assert editor.problem_lines() == [2, 4]  # past the end: marked on the last line
    problems = ProblemList(editor)
    assert problems.lines() == [0, 2, 99]
    problems.show()
    qtbot.mouseClick(problems.viewport(), LEFT, pos=problems.visualItemRect(problems.item(1)).center())
    assert editor.current_line() == 2  # a click on a problem shows its line

    line2 = editor.cursorRect(QTextCursor(editor.document().findBlockByNumber(1))).center()
    QApplication.sendEvent(editor.viewport(), QHelpEvent(QEvent.Type.ToolTip, line2, editor.mapToGlobal(line2)))
    assert QToolTip.text() == "'open' is not available"
    assert editor.problem_text(2) == "'open' is not available"
    assert {s.cursor.blockNumber() + 1 for s in editor.extraSelections()} == {2, 4}
    underline = [s for s in editor.extraSelections() if s.cursor.hasSelection()]
    assert [s.cursor.selectedText() for s in underline] == ["b = open('x')"]  # the last line is empty
    editor.go_to_line(3)
    assert editor.current_line() == 3
    editor.clear_problems()
    assert editor.extraSelections() == [] and editor.problems() == []


def test_enter_keeps_the_indentation_and_tab_inserts_spaces(editor: CodeEditor, qtbot: QtBot) -> None:
    editor.setPlainText("")
    qtbot.keyClicks(editor, "def f(x):")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.keyClicks(editor, "return x")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    assert editor.toPlainText() == "def f(x):\n    return x\n        "
