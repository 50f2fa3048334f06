"""Light and dark themes: Qt's Fusion style with a palette of our own.

Why not a theme package: pyqtdarktheme needs Python < 3.12 and its fork adds a dependency for what a palette
does (QT_NOTES.md). Fusion draws every widget from the palette, on every platform, so one palette per theme is
the whole theme. Charts keep their dark plotting area in both themes (candles read best on dark), as most
trading terminals do.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

THEME_NAMES = ("dark", "light")
DEFAULT_THEME = "dark"

_DARK = {
    QPalette.ColorRole.Window: "#1e2227",
    QPalette.ColorRole.WindowText: "#e6e6e6",
    QPalette.ColorRole.Base: "#15181c",
    QPalette.ColorRole.AlternateBase: "#1b1f24",
    QPalette.ColorRole.ToolTipBase: "#2a2f36",
    QPalette.ColorRole.ToolTipText: "#e6e6e6",
    QPalette.ColorRole.PlaceholderText: "#7d838c",
    QPalette.ColorRole.Text: "#e6e6e6",
    QPalette.ColorRole.Button: "#262b31",
    QPalette.ColorRole.ButtonText: "#e6e6e6",
    QPalette.ColorRole.BrightText: "#ff5252",
    QPalette.ColorRole.Link: "#64b5f6",
    QPalette.ColorRole.Highlight: "#2f6fb3",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Light: "#3a4048",
    QPalette.ColorRole.Midlight: "#30353c",
    QPalette.ColorRole.Mid: "#2a2f35",
    QPalette.ColorRole.Dark: "#111316",
    QPalette.ColorRole.Shadow: "#000000",
}
_DARK_DISABLED = {
    QPalette.ColorRole.WindowText: "#6b7078",
    QPalette.ColorRole.Text: "#6b7078",
    QPalette.ColorRole.ButtonText: "#6b7078",
    QPalette.ColorRole.Highlight: "#3a3f46",
}


def theme_palette(name: str) -> QPalette:
    """The palette of theme `name` ("dark" or "light"); the light one is Fusion's own."""
    if name not in THEME_NAMES:
        raise ValueError(f"unknown theme {name!r} (choose from {', '.join(THEME_NAMES)})")
    app = QApplication.instance()
    if name == "light":
        style = app.style() if isinstance(app, QApplication) else None
        return QPalette(style.standardPalette()) if style is not None else QPalette()
    palette = QPalette()
    for role, colour in _DARK.items():
        palette.setColor(QPalette.ColorGroup.All, role, QColor(colour))
    for role, colour in _DARK_DISABLED.items():
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(colour))
    return palette


def apply_theme(app: QApplication, name: str) -> str:
    """Switch the running application to theme `name` (unknown names fall back to the default); returns the
    theme applied. Every open widget repaints at once; nothing needs a restart."""
    chosen = name if name in THEME_NAMES else DEFAULT_THEME
    app.setStyle("Fusion")
    app.setPalette(theme_palette(chosen))
    app.setProperty("stratforgeTheme", chosen)
    return chosen


def current_theme(app: QApplication) -> str:
    value = app.property("stratforgeTheme")
    return value if isinstance(value, str) and value in THEME_NAMES else DEFAULT_THEME
