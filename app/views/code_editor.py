"""A Python code editor: QPlainTextEdit with a line-number gutter, Pygments highlighting and problem marks.

QScintilla has no PySide6 bindings (see QT_NOTES.md), so this is the plain-text widget plus the three
things a trader needs to write strategy code: line numbers (validation problems are reported by line),
colours (Pygments' Python lexer, so keywords and strings look as in any IDE), and problem lines marked
in place with the message as a tooltip, mirrored by a clickable :class:`ProblemList`.

Highlighting runs per block (line), as QSyntaxHighlighter requires. The only state carried from one
line to the next is "inside a triple-quoted string", tracked from the lexer's own quote tokens; a line
that continues such a string is lexed with a synthetic opener in front, so Pygments sees where the
string ends and colours the code after it correctly.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from pygments.lexers import PythonLexer
from pygments.token import Comment, Keyword, Name, Number, Operator, String, _TokenType
from PySide6.QtCore import QEvent, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QHelpEvent,
    QKeyEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QPlainTextEdit, QTextEdit, QToolTip, QWidget

from core.strategy.sandbox.validator import Problem

# Block states: outside any multi-line string, or inside one opened by """ / '''.
NORMAL, IN_DOUBLE, IN_SINGLE = 0, 1, 2
_DELIMITERS = {IN_DOUBLE: '"""', IN_SINGLE: "'''"}
_CONTINUATION_PREFIX = "_="  # lexed before the opener so it is not taken for a docstring at line start

# (light theme, dark theme) colours per token family; checked in this order (most specific first).
_STYLES: tuple[tuple[_TokenType, str, str, bool, bool], ...] = (
    # token type, light, dark, bold, italic
    (Operator.Word, "#0033b3", "#cc7832", True, False),
    (Keyword, "#0033b3", "#cc7832", True, False),
    (Name.Builtin, "#8c3fc8", "#a98ad6", False, False),
    (Name.Function, "#00627a", "#ffc66d", False, False),
    (Name.Class, "#00627a", "#ffc66d", True, False),
    (Name.Decorator, "#9e880d", "#bbb529", False, False),
    (String, "#067d17", "#6a8759", False, False),
    (Comment, "#8c8c8c", "#808080", False, True),
    (Number, "#1750eb", "#6897bb", False, False),
)


def lex_line(text: str, state: int = NORMAL) -> tuple[list[tuple[int, int, _TokenType]], int]:
    """Pygments tokens of one line as (start, length, token type), and the state the line ends in.

    ``state`` says whether the line starts inside a triple-quoted string (from the previous line)."""
    offset = 0
    if state != NORMAL:
        offset = len(_CONTINUATION_PREFIX) + 3
        text = _CONTINUATION_PREFIX + _DELIMITERS[state] + text
        state = NORMAL
    spans = []
    for start, ttype, value in _lexer().get_tokens_unprocessed(text):
        if ttype in String and value in ('"""', "'''"):
            opened = IN_DOUBLE if value == '"""' else IN_SINGLE
            state = opened if state == NORMAL else NORMAL if opened == state else state
        end = start + len(value)
        if end > offset:
            begin = max(start, offset)
            spans.append((begin - offset, end - begin, ttype))
    return spans, state


@cache
def _lexer() -> PythonLexer:
    return PythonLexer()


class PythonHighlighter(QSyntaxHighlighter):
    """Colours Python per block from Pygments tokens; ``dark`` picks colours readable on a dark base."""

    def __init__(self, document: QTextDocument, *, dark: bool = False) -> None:
        super().__init__(document)
        self._formats: dict[_TokenType, QTextCharFormat | None] = {}
        self._styles = [(t, _char_format(dark_c if dark else light_c, b, i)) for t, light_c, dark_c, b, i in _STYLES]

    def format_for(self, ttype: _TokenType) -> QTextCharFormat | None:
        """The format a token type is drawn with (None: the editor's plain text)."""
        if ttype not in self._formats:
            self._formats[ttype] = next((f for t, f in self._styles if ttype in t), None)
        return self._formats[ttype]

    def highlightBlock(self, text: str) -> None:
        previous = self.previousBlockState()
        spans, state = lex_line(text, previous if previous in _DELIMITERS else NORMAL)
        for start, length, ttype in spans:
            fmt = self.format_for(ttype)
            if fmt is not None:
                self.setFormat(start, length, fmt)
        self.setCurrentBlockState(state)


def _char_format(color: str, bold: bool, italic: bool) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(color))
    if bold:
        fmt.setFontWeight(QFont.Weight.Bold)
    fmt.setFontItalic(italic)
    return fmt


class LineNumberArea(QWidget):
    """The gutter: paints line numbers (problem lines in red) and shows a problem line's message on hover."""

    def __init__(self, editor: CodeEditor) -> None:
        super().__init__(editor)
        self.setObjectName("lineNumberArea")
        self._editor = editor

    def sizeHint(self) -> QSize:
        return QSize(self._editor.line_number_area_width(), 0)

    def paintEvent(self, event: QPaintEvent) -> None:
        self._editor.paint_line_numbers(event)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            line = self._editor.line_at_y(event.pos().y())
            text = self._editor.problem_text(line) if line else ""
            if text:
                QToolTip.showText(event.globalPos(), text, self)
            else:
                QToolTip.hideText()
            return True
        return super().event(event)


class CodeEditor(QPlainTextEdit):
    """Monospace Python editor. ``set_problems`` marks lines (wavy red underline, tinted line, red
    number) and emits ``problemsChanged``; Tab inserts four spaces and Enter keeps the indentation."""

    problemsChanged = Signal(list)  # list[Problem]

    INDENT = "    "
    GUTTER_PADDING = 10

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("codeEditor")
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.setFont(font)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setTabStopDistance(self.fontMetrics().horizontalAdvance(" ") * len(self.INDENT))
        dark = self.palette().base().color().lightness() < 128
        self.highlighter = PythonHighlighter(self.document(), dark=dark)
        self._problems: list[Problem] = []
        self._problem_color = QColor("#e53935")
        self._line_tint = QColor(229, 57, 53, 60 if dark else 35)

        self.line_number_area = LineNumberArea(self)
        self.blockCountChanged.connect(self._update_gutter_width)
        self.updateRequest.connect(self._update_gutter)
        self._update_gutter_width()

    # --- problems ---
    def set_problems(self, problems: Iterable[Problem]) -> None:
        """Mark each problem's line; line 0 (the whole source) is listed but marks no line."""
        self._problems = sorted(problems, key=lambda p: (p.line, p.col, p.message))
        last = self.blockCount()
        selections = []
        for line in sorted({min(p.line, last) for p in self._problems if p.line > 0}):
            message = self.problem_text(line)
            block = self.document().findBlockByNumber(line - 1)
            tint = QTextEdit.ExtraSelection()
            tint.cursor = QTextCursor(block)
            tint.format.setBackground(self._line_tint)
            tint.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
            tint.format.setToolTip(message)
            underline = QTextEdit.ExtraSelection()
            underline.cursor = QTextCursor(block)
            text = block.text()
            underline.cursor.setPosition(block.position() + len(text) - len(text.lstrip()))
            underline.cursor.setPosition(block.position() + len(text.rstrip()), QTextCursor.MoveMode.KeepAnchor)
            underline.format.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
            underline.format.setUnderlineColor(self._problem_color)
            underline.format.setToolTip(message)
            selections += [tint, underline]
        self.setExtraSelections(selections)
        self.line_number_area.update()
        self.problemsChanged.emit(list(self._problems))

    def clear_problems(self) -> None:
        self.set_problems([])

    def problems(self) -> list[Problem]:
        return list(self._problems)

    def problem_lines(self) -> list[int]:
        """The 1-based lines currently marked (problems past the end are marked on the last line)."""
        last = self.blockCount()
        return sorted({min(p.line, last) for p in self._problems if p.line > 0})

    def problem_text(self, line: int) -> str:
        """The messages for ``line``, one per row (the tooltip of that line)."""
        last = self.blockCount()
        return "\n".join(p.message for p in self._problems if p.line > 0 and min(p.line, last) == line)

    # --- navigation ---
    def go_to_line(self, line: int) -> None:
        """Put the cursor at the start of 1-based ``line`` (clamped to the document) and show it."""
        block = self.document().findBlockByNumber(max(0, min(line, self.blockCount()) - 1))
        cursor = QTextCursor(block)
        cursor.movePosition(QTextCursor.MoveOperation.StartOfBlock)
        self.setTextCursor(cursor)
        self.centerCursor()

    def current_line(self) -> int:
        return self.textCursor().blockNumber() + 1

    def line_at_y(self, y: int) -> int:
        """The 1-based line drawn at viewport height ``y`` (0: none)."""
        block = self.firstVisibleBlock()
        offset = self.contentOffset()
        while block.isValid():
            top = self.blockBoundingGeometry(block).translated(offset).top()
            bottom = top + self.blockBoundingRect(block).height()
            if top <= y < bottom:
                return block.blockNumber() + 1
            if top > y:
                break
            block = block.next()
        return 0

    # --- gutter ---
    def line_number_area_width(self) -> int:
        digits = len(str(max(1, self.blockCount())))
        return self.GUTTER_PADDING + self.fontMetrics().horizontalAdvance("9") * max(2, digits)

    def _update_gutter_width(self, _count: int = 0) -> None:
        width = self.line_number_area_width()
        self.setViewportMargins(width, 0, 0, 0)
        cr = self.contentsRect()
        self.line_number_area.setGeometry(QRect(cr.left(), cr.top(), width, cr.height()))

    def _update_gutter(self, rect: QRect, dy: int) -> None:
        if dy:
            self.line_number_area.scroll(0, dy)
        else:
            self.line_number_area.update(0, rect.y(), self.line_number_area.width(), rect.height())
        if rect.contains(self.viewport().rect()):
            self._update_gutter_width()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._update_gutter_width()

    def paint_line_numbers(self, event: QPaintEvent) -> None:
        painter = QPainter(self.line_number_area)
        palette = self.palette()
        painter.fillRect(event.rect(), palette.window())
        marked = set(self.problem_lines())
        current = self.current_line()
        width = self.line_number_area.width() - self.GUTTER_PADDING // 2
        height = self.fontMetrics().height()
        block = self.firstVisibleBlock()
        top = round(self.blockBoundingGeometry(block).translated(self.contentOffset()).top())
        bottom = top + round(self.blockBoundingRect(block).height())
        while block.isValid() and top <= event.rect().bottom():
            if block.isVisible() and bottom >= event.rect().top():
                number = block.blockNumber() + 1
                if number in marked:
                    painter.setPen(self._problem_color)
                elif number == current:
                    painter.setPen(palette.text().color())
                else:
                    painter.setPen(palette.placeholderText().color())
                painter.drawText(0, top, width, height, Qt.AlignmentFlag.AlignRight, str(number))
            block = block.next()
            top = bottom
            bottom = top + round(self.blockBoundingRect(block).height())
        painter.end()

    # --- tooltips and typing ---
    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            line = self.cursorForPosition(event.pos()).blockNumber() + 1
            text = self.problem_text(line)
            if text:
                QToolTip.showText(event.globalPos(), text, self.viewport())
            else:
                QToolTip.hideText()
            return True
        return super().viewportEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self.isReadOnly():
            super().keyPressEvent(event)
            return
        key, mods = event.key(), event.modifiers()
        if key == Qt.Key.Key_Tab and not mods & ~Qt.KeyboardModifier.KeypadModifier:
            self.textCursor().insertText(self.INDENT)
            return
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not mods & ~Qt.KeyboardModifier.KeypadModifier:
            line = self.textCursor().block().text()[: self.textCursor().positionInBlock()]
            indent = line[: len(line) - len(line.lstrip())]
            if line.rstrip().endswith(":"):
                indent += self.INDENT
            self.textCursor().insertText("\n" + indent)
            self.ensureCursorVisible()
            return
        super().keyPressEvent(event)


class ProblemList(QListWidget):
    """The editor's problems as rows ("line 7: ..."); activating a row moves the editor to that line."""

    def __init__(self, editor: CodeEditor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("problemList")
        self._editor = editor
        editor.problemsChanged.connect(self._show)
        self.itemActivated.connect(self._go)
        self.itemClicked.connect(self._go)
        self._show(editor.problems())

    def _show(self, problems: list[Problem]) -> None:
        self.clear()
        for problem in problems:
            item = QListWidgetItem(str(problem))
            item.setData(Qt.ItemDataRole.UserRole, problem.line)
            item.setToolTip(problem.message)
            self.addItem(item)
        self.setVisible(bool(problems))

    def _go(self, item: QListWidgetItem) -> None:
        line = item.data(Qt.ItemDataRole.UserRole)
        if line:
            self._editor.go_to_line(int(line))
            self._editor.setFocus()

    def lines(self) -> list[int]:
        """The line each row names, in order (0: a problem with the whole source)."""
        return [int(self.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.count())]
