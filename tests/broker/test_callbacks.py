"""A broker's callbacks: one that fails never keeps a value from the others, and removal is safe mid-call."""

from __future__ import annotations

import logging

import pytest

from core.broker.callbacks import Callbacks

log = logging.getLogger("tests.callbacks")


def test_every_callback_gets_every_value_in_order_even_when_one_raises(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[tuple[str, int]] = []
    callbacks: Callbacks[int] = Callbacks("order event handler", log)

    def broken(value: int) -> None:
        raise RuntimeError("handler bug")

    callbacks.add(lambda v: seen.append(("a", v)))
    callbacks.add(broken)
    callbacks.add(lambda v: seen.append(("b", v)))
    with caplog.at_level(logging.ERROR, logger="tests.callbacks"):
        callbacks.call_each([1, 2])
    assert seen == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert sum("order event handler" in r.getMessage() and "failed" in r.getMessage() for r in caplog.records) == 2


def test_a_callback_may_remove_itself_while_being_called_and_removing_twice_is_harmless() -> None:
    seen: list[int] = []
    callbacks: Callbacks[int] = Callbacks("listener", log)

    def once(value: int) -> None:
        seen.append(value)
        callbacks.remove(once)

    callbacks.add(once)
    callbacks.call(1)
    callbacks.call(2)
    callbacks.remove(once)
    assert seen == [1] and len(callbacks) == 0
