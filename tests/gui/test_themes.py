"""Themes switch the whole running application, and an unknown name falls back instead of failing."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QLineEdit

from app.themes import DEFAULT_THEME, apply_theme, current_theme, theme_palette


@pytest.fixture
def restore_palette(qapp: QApplication):
    before = QPalette(qapp.palette())
    yield qapp
    qapp.setPalette(before)
    qapp.setProperty("stratforgeTheme", None)


def test_dark_theme_darkens_open_widgets_and_light_restores(restore_palette: QApplication, qtbot) -> None:
    field = QLineEdit()
    qtbot.addWidget(field)
    assert apply_theme(restore_palette, "dark") == "dark"
    assert current_theme(restore_palette) == "dark"
    qtbot.waitUntil(lambda: field.palette().color(QPalette.ColorRole.Base).lightness() < 60, timeout=2000)
    base = field.palette().color(QPalette.ColorRole.Base)
    text = field.palette().color(QPalette.ColorRole.Text)
    assert base.lightness() < 60 and text.lightness() > 200  # light text on a dark field
    apply_theme(restore_palette, "light")
    qtbot.waitUntil(lambda: field.palette().color(QPalette.ColorRole.Base).lightness() > 200, timeout=2000)
    assert current_theme(restore_palette) == "light"


def test_unknown_theme_falls_back_to_the_default(restore_palette: QApplication) -> None:
    assert apply_theme(restore_palette, "neon") == DEFAULT_THEME
    with pytest.raises(ValueError, match="unknown theme"):
        theme_palette("neon")


def test_disabled_text_is_dimmer_than_enabled_text_in_the_dark_theme() -> None:
    palette = theme_palette("dark")
    enabled = palette.color(QPalette.ColorGroup.Active, QPalette.ColorRole.Text)
    disabled = palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
    assert disabled.lightness() < enabled.lightness()
