"""The GUI tests' loop, runner and GUI-thread garbage collection (tests/gui/conftest.py), for these views."""

from tests.gui.conftest import gui_thread_garbage_collection, qasync_loop, runner  # noqa: F401
