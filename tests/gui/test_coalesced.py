"""CoalescedPasses: one pass at a time, and requests during a pass fold into exactly one more."""

from __future__ import annotations

import asyncio

from pytestqt.qtbot import QtBot

from app.async_runner import BlockingRunner
from app.coalesced import CoalescedPasses


def test_requests_during_a_pass_make_exactly_one_more(qtbot: QtBot, runner: BlockingRunner) -> None:
    gate = asyncio.Event()
    passes: list[int] = []

    async def one_pass() -> bool:
        passes.append(len(passes))
        if len(passes) == 1:
            await gate.wait()
        return True

    coalesced = CoalescedPasses(one_pass, lambda start: runner.spawn(start()))
    coalesced.request()
    qtbot.waitUntil(lambda: passes == [0], timeout=5_000)
    for _ in range(10):
        coalesced.request()
    assert coalesced.running
    gate.set()
    qtbot.waitUntil(lambda: not coalesced.running, timeout=5_000)
    assert passes == [0, 1]


def test_a_pass_that_returns_false_ends_the_run(qtbot: QtBot, runner: BlockingRunner) -> None:
    passes: list[int] = []

    async def one_pass() -> bool:
        passes.append(1)
        coalesced.request()  # would ask for another, but this pass says stop
        return False

    coalesced = CoalescedPasses(one_pass, lambda start: runner.spawn(start()))
    coalesced.request()
    qtbot.waitUntil(lambda: not coalesced.running, timeout=5_000)
    assert passes == [1]
