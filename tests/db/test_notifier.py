"""Change notifications sent after commit, coalesced per payload."""

from __future__ import annotations

import threading
import time

from core.db.engine import make_engine
from core.db.notifier import CoalescingNotifier
from core.db.notify import NotificationListener


def test_bursts_are_coalesced_and_every_payload_arrives(db):
    heard: list[str] = []
    both = threading.Event()

    def on_change(payload: str) -> None:
        heard.append(payload)
        if {"alice", "bob"} <= set(heard):
            both.set()

    listener = NotificationListener(db.engine.url.render_as_string(hide_password=False), "sf_test_changes", on_change)
    listener.start()
    notifier = CoalescingNotifier(db.engine, "sf_test_changes", window_s=0.2)
    try:
        for _ in range(50):
            notifier.notify("alice")
            notifier.notify("bob")
        assert both.wait(10)
        time.sleep(0.5)  # anything still in flight
    finally:
        listener.stop()
    assert sorted(heard) == ["alice", "bob"]  # 100 calls inside one window: one notification each


def test_a_database_that_is_gone_costs_a_warning_not_an_exception(caplog):
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none", pool_size=1, max_overflow=0)
    notifier = CoalescingNotifier(engine, "sf_test_changes", window_s=30)  # the background send stays asleep
    notifier.notify("alice")
    notifier.flush()  # on the caller's thread; must not raise
    assert any("could not notify" in r.getMessage() for r in caplog.records)
    engine.dispose()
