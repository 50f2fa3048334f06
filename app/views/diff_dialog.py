"""A read-only unified diff with "Apply to editor" / "Discard": how an AI modification is shown before it
replaces the trader's code.

The trader must see exactly which lines change before accepting code they did not write, so the dialog
shows the whole diff (added lines tinted green, removed ones red, hunk headers blue) and nothing is applied
until they press Apply. It is opened window-modal with ``open()`` (never ``exec()``, whose nested event loop
would re-enter the asyncio task that showed it), so the editor cannot change under the diff while it is open.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QFontDatabase, QTextCursor, QTextFormat
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

ADDED, REMOVED, HUNK, HEADER, CONTEXT = "added", "removed", "hunk", "header", "context"

# (background tint, text colour on a light base, on a dark base) per kind; the tints are translucent so they
# read on both bases, the text colours are not (a dark red is unreadable on a dark red tint).
_COLOURS: dict[str, tuple[QColor | None, str | None, str | None]] = {
    ADDED: (QColor(46, 160, 67, 70), "#1b5e20", "#a5d6a7"),
    REMOVED: (QColor(229, 57, 53, 70), "#b71c1c", "#ef9a9a"),
    HUNK: (QColor(33, 150, 243, 45), "#0d47a1", "#90caf9"),
    HEADER: (None, "#757575", "#9e9e9e"),
    CONTEXT: (None, None, None),
}


def line_kind(line: str) -> str:
    """What one line of a unified diff is: a file header, a hunk header, an added, removed or context line."""
    if line.startswith(("+++", "---")):
        return HEADER
    if line.startswith("@@"):
        return HUNK
    if line.startswith("+"):
        return ADDED
    if line.startswith("-"):
        return REMOVED
    return CONTEXT


class DiffDialog(QDialog):
    """Shows ``diff`` (a unified diff) under a ``summary``; accepted = Apply, rejected = Discard."""

    def __init__(self, diff: str, *, summary: str = "", title: str = "Proposed change",
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.setObjectName("aiDiffDialog")
        self.setWindowTitle(title)
        self.resize(820, 620)

        self.summary_label = QLabel(summary)
        self.summary_label.setObjectName("diffSummary")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextFormat(Qt.TextFormat.PlainText)
        self.summary_label.setVisible(bool(summary))

        self.diff_view = QPlainTextEdit()
        self.diff_view.setObjectName("diffView")
        self.diff_view.setReadOnly(True)
        self.diff_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.diff_view.setFont(font)
        self.diff_view.setPlainText(diff.rstrip("\n"))
        self._kinds = [line_kind(line) for line in diff.rstrip("\n").split("\n")] if diff else []
        self._colour_lines()

        buttons = QDialogButtonBox()
        self.apply_button = QPushButton("Apply to editor")
        self.apply_button.setObjectName("diffApplyButton")
        self.apply_button.setToolTip("Replace the editor's code with the proposed one (Ctrl+Z undoes it; not saved)")
        self.discard_button = QPushButton("Discard")
        self.discard_button.setObjectName("diffDiscardButton")
        self.discard_button.setToolTip("Keep the editor's code as it is")
        buttons.addButton(self.apply_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.discard_button, QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.apply_button.setAutoDefault(False)  # Enter must not apply code by accident
        self.discard_button.setDefault(True)

        layout = QVBoxLayout(self)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.diff_view, 1)
        layout.addWidget(buttons)

    def line_kinds(self) -> list[str]:
        """The kind of each shown line (what it is coloured as), for tests and for a reader of the code."""
        return list(self._kinds)

    def _colour_lines(self) -> None:
        selections = []
        document = self.diff_view.document()
        dark = self.diff_view.palette().base().color().lightness() < 128
        for number, kind in enumerate(self._kinds):
            background, on_light, on_dark = _COLOURS[kind]
            foreground = on_dark if dark else on_light
            block = document.findBlockByNumber(number)
            if background is not None:  # a collapsed cursor: the tint spans the whole width of the line
                tint = QTextEdit.ExtraSelection()
                tint.cursor = QTextCursor(block)
                tint.format.setBackground(background)
                tint.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
                selections.append(tint)
            if foreground is not None:  # the line's text, coloured
                text = QTextEdit.ExtraSelection()
                cursor = QTextCursor(block)
                cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock, QTextCursor.MoveMode.KeepAnchor)
                text.cursor = cursor
                text.format.setForeground(QColor(foreground))
                selections.append(text)
        self.diff_view.setExtraSelections(selections)
