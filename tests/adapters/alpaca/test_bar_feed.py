"""AlpacaBarFeed with the real alpaca-py StockDataStream against the stand-in: live bars, subscriptions while
running, and a dropped connection whose missed minutes come back through the history path."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from core.adapters.alpaca.bar_feed import AlpacaBarFeed
from core.adapters.alpaca.bar_history import AlpacaBarSource
from core.domain.bars import NormalizedBar
from core.market.calendar import TradingCalendar
from core.market.history import HistoryService
from core.market.live import LiveBars
from core.market.store import BarStore
from core.market.sync_log import SyncLog
from tests.market.test_history import ny, session_minutes

DAY = date(2025, 7, 1)


class LoopThread:
    """An asyncio loop on its own thread, as qasync's loop is to the GUI's worker threads."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-loop", daemon=True)
        self._thread.start()

    def run(self, coro, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


class Heard:
    def __init__(self) -> None:
        self.bars: list[NormalizedBar] = []
        self._lock = threading.Lock()

    def __call__(self, bar: NormalizedBar) -> None:
        with self._lock:
            self.bars.append(bar)

    def of(self, symbol: str) -> list[datetime]:
        with self._lock:
            return [b.timestamp for b in self.bars if b.symbol == symbol]


@pytest.fixture
def rig(db, alpaca, loop_thread):
    """A feed wired as the app wires it: store, sink, history for backfills; the clock is the test's."""
    clock = [ny(DAY, 10, 5)]
    store = BarStore(db.engine)
    sink = LiveBars(store)
    heard = Heard()
    sink.add_listener(heard)
    source = AlpacaBarSource(alpaca.key_id, alpaca.secret_key, url_override=alpaca.rest_url, timeout_s=20)
    history = HistoryService(store, source, SyncLog(db.engine), TradingCalendar(2026), clock=lambda: clock[0])
    feed = AlpacaBarFeed(
        alpaca.key_id, alpaca.secret_key, sink, history=history, url_override=alpaca.data_stream_url,
        clock=lambda: clock[0],
    )  # fmt: skip
    running = loop_thread.start(feed.run())
    yield feed, store, sink, heard, clock
    loop_thread.run(feed.stop())
    running.result(10)
    sink.close()
    store.close()


def minute_bars(start: datetime, count: int) -> pd.DataFrame:
    frame = session_minutes([DAY])
    return frame[frame["timestamp"] >= pd.Timestamp(start)].head(count).reset_index(drop=True)


def test_live_bars_are_stored_and_published(alpaca, loop_thread, rig):
    feed, store, _, heard, _ = rig
    loop_thread.run(feed.subscribe(["AAPL"]))
    assert alpaca.wait_for_bar_subscribers("AAPL")
    bars = minute_bars(ny(DAY, 10), 3)
    for _, row in bars.iterrows():
        assert alpaca.publish_bar("AAPL", row) == 1
    assert wait_until(lambda: len(heard.of("AAPL")) == 3)
    assert heard.of("AAPL") == [t.to_pydatetime() for t in bars["timestamp"]]
    assert store.load_frame("AAPL", "1Min")["close"].tolist() == pytest.approx(bars["close"].tolist())
    assert alpaca.data_connections_accepted == 1


def test_symbols_change_while_streaming(alpaca, loop_thread, rig):
    feed, _, _, heard, _ = rig
    loop_thread.run(feed.subscribe(["AAPL"]))
    assert alpaca.wait_for_bar_subscribers("AAPL")
    loop_thread.run(feed.subscribe(["MSFT"]))
    assert alpaca.wait_for_bar_subscribers("MSFT")
    loop_thread.run(feed.unsubscribe(["AAPL"]))
    assert wait_until(lambda: alpaca.bar_subscriptions.get("AAPL", 0) == 0)
    bar = minute_bars(ny(DAY, 10), 1).iloc[0]
    assert alpaca.publish_bar("AAPL", bar) == 0  # nobody listens for AAPL any more
    assert alpaca.publish_bar("MSFT", bar) == 1
    assert wait_until(lambda: heard.of("MSFT"))
    assert heard.of("AAPL") == []
    assert alpaca.data_connections_accepted == 1  # the same connection throughout


def test_after_a_dropped_connection_the_missed_minutes_are_backfilled(alpaca, loop_thread, rig):
    feed, store, _, heard, clock = rig
    everything = minute_bars(ny(DAY, 10), 9)  # 10:00 .. 10:08
    alpaca.add_bars("AAPL", "1Min", everything)  # what Alpaca's history API knows
    loop_thread.run(feed.subscribe(["AAPL"]))
    assert alpaca.wait_for_bar_subscribers("AAPL")
    for _, row in everything.iloc[:5].iterrows():  # 10:00 .. 10:04 live
        alpaca.publish_bar("AAPL", row)
    assert wait_until(lambda: len(heard.of("AAPL")) == 5)
    clock[0] = ny(DAY, 10, 8) + timedelta(seconds=30)
    alpaca.drop_data_connections()  # 10:05 .. 10:07 are published while nobody listens: lost by the stream
    assert alpaca.wait_for_bar_subscribers("AAPL", timeout=15)
    assert wait_until(lambda: feed.backfills == 1 and len(heard.of("AAPL")) == 8, timeout=15), heard.of("AAPL")
    alpaca.publish_bar("AAPL", everything.iloc[8])  # 10:08, live again
    assert wait_until(lambda: len(heard.of("AAPL")) == 9)
    stored = store.load_frame("AAPL", "1Min")
    assert stored["timestamp"].tolist() == everything["timestamp"].tolist()  # complete, no duplicates
    assert sorted(heard.of("AAPL")) == [t.to_pydatetime() for t in everything["timestamp"]]
    assert alpaca.data_connections_accepted == 2 and feed.backfill_errors == []
