"""The GUI-thread garbage collector: automatic collection off while it runs, cycles collected by its tick."""

from __future__ import annotations

import gc
import threading

from pytestqt.qtbot import QtBot

from app.gui_gc import GuiThreadGarbageCollector


class Node:
    def __init__(self, died_on: list[str]) -> None:
        self.partner: Node | None = None
        self._died_on = died_on

    def __del__(self) -> None:
        self._died_on.append(threading.current_thread().name)


def make_cycle(died_on: list[str]) -> None:
    a, b = Node(died_on), Node(died_on)
    a.partner, b.partner = b, a


def test_cycles_made_on_a_worker_are_collected_by_the_gui_threads_tick(qtbot: QtBot) -> None:
    collector = GuiThreadGarbageCollector(interval_ms=20)
    collector.start()
    try:
        assert not gc.isenabled() and collector.running
        died_on: list[str] = []
        kept: list[list[object]] = []

        def worker() -> None:
            make_cycle(died_on)
            # allocations past the threshold: with automatic collection on, the cycle would die right here
            kept.append([[] for _ in range(5 * gc.get_threshold()[0])])

        thread = threading.Thread(target=worker, name="worker")
        thread.start()
        thread.join()
        assert died_on == []  # nothing collected on the worker
        qtbot.waitUntil(lambda: len(died_on) == 2, timeout=5_000)
        assert set(died_on) == {threading.main_thread().name}  # by this collector's tick (or the GUI tests' own)
    finally:
        collector.stop()
    assert not collector.running


def test_stop_restores_automatic_collection_when_it_was_on() -> None:
    was = gc.isenabled()
    gc.enable()
    try:
        collector = GuiThreadGarbageCollector()
        collector.start()
        assert not gc.isenabled()
        collector.stop()
        assert gc.isenabled()
    finally:
        if not was:
            gc.disable()
