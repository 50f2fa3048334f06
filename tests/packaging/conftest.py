"""Packaging tests: fast unit tests of the version, the About dialog, the crash handler and the frozen entry
(the frozen bundle itself is checked by packaging/smoke, which takes minutes)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

from tests.gui.conftest import qasync_loop  # noqa: F401  (the GUI tests' loop on the Qt event loop)
