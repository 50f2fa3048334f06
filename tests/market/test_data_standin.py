"""The stand-in's market-data stream, through alpaca-py's real StockDataStream.

The stream's coroutine (``_run_forever``, the body of ``run()``) runs as a task on the
test's own loop, the way the app runs it on qasync's (see core/adapters/alpaca/trade_stream.py).
Stand-in calls that wait for the client go through ``asyncio.to_thread`` so the client
keeps running meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, Self
from zoneinfo import ZoneInfo

import pytest
from alpaca.data.live import StockDataStream
from alpaca.data.models import Bar

from tests.alpaca_standin import AlpacaStandIn

TEST_DEADLINE_S = 12.0
WAIT_S = 5.0
QUIET_S = 0.5
NEW_YORK = ZoneInfo("America/New_York")


def run(main: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(main, TEST_DEADLINE_S))


def a_bar(minute: int = 31, close: float = 187.5) -> dict[str, Any]:
    """A minute bar stamped 2 January 2025 09:<minute> New York time (14:<minute> UTC)."""
    return {
        "timestamp": datetime(2025, 1, 2, 9, minute, tzinfo=NEW_YORK),
        "open": 187.0,
        "high": 188.25,
        "low": 186.75,
        "close": close,
        "volume": 12_345,
        "trade_count": 321,
        "vwap": 187.4,
    }


class LiveBars:
    """A StockDataStream on the stand-in, subscribed to bars of ``symbols``, running as a task of this loop."""

    def __init__(self, alpaca: AlpacaStandIn, *symbols: str, secret: str | None = None) -> None:
        self.stream = StockDataStream(alpaca.key_id, secret or alpaca.secret_key, url_override=alpaca.data_stream_url)
        self.received: asyncio.Queue[Bar] = asyncio.Queue()
        # Before the task starts: on a running stream, subscribe_* blocks its own loop.
        self.stream.subscribe_bars(self._on_bar, *symbols)
        self._task: asyncio.Task[None] | None = None

    async def _on_bar(self, bar: Bar) -> None:
        self.received.put_nowait(bar)

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self.stream._run_forever())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        await asyncio.wait([self._task], timeout=WAIT_S)
        await asyncio.wait_for(self.stream.close(), WAIT_S)
        self._task = None

    async def next_bar(self) -> Bar:
        return await asyncio.wait_for(self.received.get(), WAIT_S)

    async def assert_quiet(self) -> None:
        await asyncio.sleep(QUIET_S)
        assert self.received.empty()


async def subscribed(alpaca: AlpacaStandIn, symbol: str = "AAPL") -> bool:
    return await asyncio.to_thread(alpaca.wait_for_bar_subscribers, symbol, 1, WAIT_S)


async def eventually(predicate: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def logged(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records)


def test_a_published_bar_reaches_the_handler(alpaca: AlpacaStandIn) -> None:
    async def main() -> None:
        async with LiveBars(alpaca, "AAPL") as live:
            assert await subscribed(alpaca)
            assert alpaca.bar_subscriptions == {"AAPL": 1}
            assert alpaca.publish_bar("AAPL", a_bar()) == 1
            bar = await live.next_bar()
        assert isinstance(bar, Bar)
        assert bar.symbol == "AAPL"
        assert (bar.open, bar.high, bar.low, bar.close) == (187.0, 188.25, 186.75, 187.5)
        assert (bar.volume, bar.trade_count, bar.vwap) == (12_345, 321, 187.4)
        assert bar.timestamp == datetime(2025, 1, 2, 14, 31, tzinfo=UTC)
        assert bar.timestamp.utcoffset() == timedelta(0)
        assert await eventually(lambda: alpaca.bar_subscriptions == {})  # closed cleanly, the stand-in forgot it

    run(main())


def test_bars_of_unsubscribed_symbols_are_dropped(alpaca: AlpacaStandIn) -> None:
    async def main() -> None:
        async with LiveBars(alpaca, "AAPL") as live:
            assert await subscribed(alpaca)
            assert alpaca.publish_bar("MSFT", a_bar(close=420.0)) == 0
            assert alpaca.publish_bar("AAPL", a_bar()) == 1
            assert (await live.next_bar()).symbol == "AAPL"
            await live.assert_quiet()

    run(main())


def test_a_wildcard_subscription_gets_every_symbol(alpaca: AlpacaStandIn) -> None:
    async def main() -> None:
        async with LiveBars(alpaca, "*") as live:
            assert await subscribed(alpaca, "MSFT")
            assert alpaca.bar_subscriptions == {"*": 1}
            alpaca.publish_bar("MSFT", a_bar(close=420.0))
            alpaca.publish_bar("AAPL", a_bar())
            assert [(await live.next_bar()).symbol for _ in range(2)] == ["MSFT", "AAPL"]

    run(main())


def test_wrong_keys_get_no_connection_and_no_bars(alpaca: AlpacaStandIn, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="alpaca.data.live.websocket")

    async def main() -> None:
        async with LiveBars(alpaca, "AAPL", secret="wrong-secret") as live:
            # alpaca-py does not give up on 402: it retries with backoff (first retry after 0.5-1 s).
            assert await eventually(lambda: logged(caplog, "auth failed") >= 2)
            assert alpaca.bar_subscriptions == {}
            assert alpaca.publish_bar("AAPL", a_bar()) == 0
            await live.assert_quiet()
        assert alpaca.data_connections_accepted == 0

    run(main())


def test_a_second_connection_for_the_account_is_refused_with_406(
    alpaca: AlpacaStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="alpaca.data.live.websocket")

    async def main() -> None:
        async with LiveBars(alpaca, "AAPL") as first:
            assert await subscribed(alpaca)
            async with LiveBars(alpaca, "AAPL") as second:
                assert await eventually(lambda: alpaca.data_connection_refusals >= 1)
                assert logged(caplog, "connection limit exceeded") >= 1
                assert alpaca.data_connections_accepted == 1
                assert alpaca.publish_bar("AAPL", a_bar()) == 1
                assert (await first.next_bar()).close == 187.5
                await second.assert_quiet()

                # alpaca-py keeps retrying after a 406 (backoff 0.5-1 s, then 1-2 s, ...): once the first
                # connection is gone, the second gets in.
                await first.stop()
                assert await eventually(lambda: alpaca.data_connections_accepted == 2, timeout=8.0)
                assert await subscribed(alpaca)
                assert alpaca.publish_bar("AAPL", a_bar(minute=32, close=188.0)) == 1
                assert (await second.next_bar()).close == 188.0

    run(main())


def test_after_a_dropped_connection_alpaca_py_reconnects_and_resubscribes(alpaca: AlpacaStandIn) -> None:
    async def main() -> None:
        async with LiveBars(alpaca, "AAPL") as live:
            assert await subscribed(alpaca)
            assert alpaca.publish_bar("AAPL", a_bar(minute=31)) == 1
            await live.next_bar()

            alpaca.drop_data_connections()
            assert alpaca.publish_bar("AAPL", a_bar(minute=32)) == 0  # lost while disconnected, as with Alpaca
            assert await eventually(lambda: alpaca.data_connections_accepted == 2)
            assert await subscribed(alpaca)
            assert alpaca.publish_bar("AAPL", a_bar(minute=33)) == 1
            bar = await live.next_bar()
            assert bar.timestamp == datetime(2025, 1, 2, 14, 33, tzinfo=UTC)
            assert live.received.empty()

    run(main())
