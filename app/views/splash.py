"""A small window shown while the database starts, so a 1-3 s embedded PostgreSQL start (longer on
first run, when it initialises its data folder) does not look like a hung app."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget


class StartupSplash(QWidget):
    def __init__(self, target: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("startupSplash")
        self.setWindowTitle("StratForge")
        self.setMinimumWidth(420)
        self.message = QLabel(f"Connecting to {target}…")
        self.message.setObjectName("splashMessage")
        self.message.setWordWrap(True)
        busy = QProgressBar()
        busy.setRange(0, 0)  # indeterminate: we cannot know how long a first start takes
        busy.setTextVisible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>StratForge</b>"))
        layout.addWidget(self.message)
        layout.addWidget(busy)
