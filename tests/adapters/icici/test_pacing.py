"""ICICI's ten order requests a second, counted before sending."""

from __future__ import annotations

import pytest

from core.adapters.icici.pacing import OrderPacer
from core.broker.errors import NotPlaced, RateLimited


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_eleventh_order_request_in_a_second_is_not_sent_and_says_when_to_retry() -> None:
    clock = Clock()
    pacer = OrderPacer(clock=clock)
    for _ in range(10):
        pacer.take("the order")
        clock.now += 0.05

    with pytest.raises(RateLimited, match="at most 10 order requests a second") as refused:
        pacer.take("the order")

    assert isinstance(refused.value, NotPlaced)
    assert refused.value.retry_after_s == pytest.approx(0.5)


def test_requests_older_than_a_second_no_longer_count() -> None:
    clock = Clock()
    pacer = OrderPacer(limit=2, clock=clock)
    pacer.take("the order")
    pacer.take("the order")

    clock.now += 1.0

    pacer.take("the order")  # does not raise
