"""The panel's error line: the message in a sentence, the details (traceback, full error) a click away.

Errors belong where the trader is looking; a log line alone would leave a batch that stopped unexplained.
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget


class ErrorBox(QWidget):
    """A one-line message with the details (traceback, full error) a click away."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setObjectName("batchError")
        self.label.setWordWrap(True)
        self.label.setStyleSheet("color: #d9534f;")
        self.details_button = QPushButton("Details")
        self.details_button.setObjectName("errorDetailsButton")
        self.details_button.setCheckable(True)
        self.details = QPlainTextEdit()
        self.details.setObjectName("errorDetails")
        self.details.setReadOnly(True)
        self.details.setVisible(False)
        self.details_button.toggled.connect(self.details.setVisible)
        row = QHBoxLayout()
        row.addWidget(self.label, 1)
        row.addWidget(self.details_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.details)
        self.setVisible(False)

    def show_error(self, message: str, details: str = "") -> None:
        self.label.setText(message)
        self.details.setPlainText(details or message)
        self.setVisible(True)

    def clear(self) -> None:
        self.label.clear()
        self.details.clear()
        self.details_button.setChecked(False)
        self.setVisible(False)

    @property
    def message(self) -> str:
        return self.label.text()
