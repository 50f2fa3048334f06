"""The debug watchdog sees a blocked GUI thread, says for how long and where, and stays quiet otherwise."""

from __future__ import annotations

import time

from pytestqt.qtbot import QtBot

from app.gui_watchdog import GuiWatchdog


def block_gui_thread(seconds: float) -> None:
    """Stands in for a slow call made on the GUI thread by mistake."""
    time.sleep(seconds)


def test_a_blocked_gui_thread_is_reported_with_its_stack(qtbot: QtBot) -> None:
    dog = GuiWatchdog(threshold_ms=100)
    dog.start()
    try:
        qtbot.wait(50)
        with qtbot.waitSignal(dog.stallDetected, timeout=5000) as caught:
            block_gui_thread(0.3)
        stall = caught.args[0]
        assert stall.duration_ms >= 250
        assert "block_gui_thread" in stall.stack
        assert dog.count_over(100) == 1
    finally:
        dog.stop()


def test_short_pauses_are_not_stalls(qtbot: QtBot) -> None:
    dog = GuiWatchdog(threshold_ms=250)  # margin for a busy test machine; the pauses are 20 ms
    dog.start()
    try:
        for _ in range(5):
            block_gui_thread(0.02)
            qtbot.wait(20)
        assert dog.count_over() == 0
        assert dog.running
    finally:
        dog.stop()
    assert not dog.running
