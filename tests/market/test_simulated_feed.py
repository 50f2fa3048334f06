"""The offline feed: live-bar timing on a simulated clock, random walk and replay, stored and published."""

from __future__ import annotations

import asyncio
import threading
import zlib
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from core.domain.bars import NormalizedBar
from core.market.live import LiveBars, bars_frame
from core.market.simulated import RandomWalkBarGenerator
from core.market.simulated_feed import SimulatedBarFeed
from core.market.store import BarStore

START = datetime(2025, 7, 1, 13, 30, tzinfo=UTC)


class Recorder:
    """A sink that notes the simulated time at which each bar was handed over."""

    def __init__(self) -> None:
        self.feed: SimulatedBarFeed | None = None
        self.bars: list[tuple[NormalizedBar, datetime]] = []

    def put(self, bar):
        assert self.feed is not None
        self.bars.append((bar, self.feed.sim_now()))

    def publish_stored(self, bars):
        raise AssertionError("a simulated feed never backfills")


async def run_for(feed: SimulatedBarFeed, seconds: float, until=None) -> None:
    task = asyncio.ensure_future(feed.run())
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline and not (until and until()):
        await asyncio.sleep(0.01)
    await feed.stop()
    await asyncio.wait_for(task, 5)


def test_random_walk_bars_arrive_when_their_minute_is_over_and_repeat_with_the_seed():
    recorder = Recorder()
    feed = SimulatedBarFeed(recorder, speed=3000, seed=5, start=START)
    recorder.feed = feed

    async def main():
        await feed.subscribe(["aapl", "MSFT"])
        await run_for(feed, 5, until=lambda: len(recorder.bars) >= 20)

    asyncio.run(main())
    got = [bar for bar, _ in recorder.bars]
    assert {b.symbol for b in got} == {"AAPL", "MSFT"}
    assert all(at >= bar.end for bar, at in recorder.bars)  # never before the bar's minute is over
    aapl = [b for b in got if b.symbol == "AAPL"]
    assert [b.timestamp for b in aapl] == [START + timedelta(minutes=i) for i in range(len(aapl))]
    reference = RandomWalkBarGenerator("AAPL", START, seed=5 + zlib.crc32(b"AAPL")).history(len(aapl))
    assert [b.close for b in aapl] == [b.close for b in reference]


def test_unsubscribed_symbols_stop_and_an_empty_feed_waits_quietly():
    recorder = Recorder()
    feed = SimulatedBarFeed(recorder, speed=3000, start=START)
    recorder.feed = feed

    async def main():
        task = asyncio.ensure_future(feed.run())
        await asyncio.sleep(0.05)
        assert recorder.bars == []  # nothing subscribed: nothing delivered, no spinning needed
        await feed.subscribe(["SPY", "QQQ"])
        while len(recorder.bars) < 6:
            await asyncio.sleep(0.01)
        await feed.unsubscribe(["QQQ"])
        count = sum(1 for b, _ in recorder.bars if b.symbol == "QQQ")
        await asyncio.sleep(0.1)
        assert sum(1 for b, _ in recorder.bars if b.symbol == "QQQ") == count
        await feed.stop()
        await asyncio.wait_for(task, 5)

    asyncio.run(main())
    assert any(b.symbol == "SPY" for b, _ in recorder.bars)


def stored_days() -> dict[str, pd.DataFrame]:
    day1 = RandomWalkBarGenerator("IBM", START, seed=1).history(30)
    day2 = RandomWalkBarGenerator("IBM", START + timedelta(days=1), seed=2).history(30)
    other = RandomWalkBarGenerator("AMD", START + timedelta(minutes=10), seed=3).history(10)
    return {"IBM": bars_frame(day1 + day2), "AMD": bars_frame(other)}


def test_a_replay_delivers_every_bar_once_in_order_and_jumps_the_night():
    recorder = Recorder()
    feed = SimulatedBarFeed(recorder, speed=3000, replay=stored_days())
    recorder.feed = feed

    async def main():
        await feed.subscribe(["IBM", "AMD"])
        await run_for(feed, 10, until=lambda: len(recorder.bars) == 70)

    asyncio.run(main())
    got = [bar for bar, _ in recorder.bars]
    assert len(got) == 70
    assert [b.timestamp for b in got] == sorted(b.timestamp for b in got)
    ibm = [b.timestamp for b in got if b.symbol == "IBM"]
    assert ibm == sorted(set(ibm)) and len(ibm) == 60
    assert all(at >= bar.end for bar, at in recorder.bars)
    # At 3000x the night between the two days (23.5 hours) would take 28 s; the replay jumped it.


def test_a_replay_refuses_symbols_it_does_not_hold():
    feed = SimulatedBarFeed(Recorder(), replay=stored_days())
    with pytest.raises(ValueError, match="not in this replay"):
        asyncio.run(feed.subscribe(["TSLA"]))


def test_speed_must_be_positive():
    with pytest.raises(ValueError, match="speed"):
        SimulatedBarFeed(Recorder(), speed=0)


def test_live_bars_are_stored_then_published_and_malformed_ones_counted(db):
    store = BarStore(db.engine)
    sink = LiveBars(store)
    seen: list[NormalizedBar] = []
    published = threading.Event()

    def listener(bar: NormalizedBar) -> None:
        assert store.count(bar.symbol, "1Min") >= 1  # stored before anyone hears of it
        seen.append(bar)
        if len(seen) >= 5:
            published.set()

    sink.add_listener(listener)
    feed = SimulatedBarFeed(sink, speed=3000, start=START)

    async def main():
        await feed.subscribe(["NVDA"])
        await run_for(feed, 5, until=published.is_set)

    asyncio.run(main())
    sink.put({"S": "NVDA", "o": 10, "h": 9, "l": 11, "c": 10, "v": 5, "t": "2025-07-01T13:00:00Z"})  # high < low
    assert sink.flush(5)
    sink.close()
    store.close()
    assert len(seen) >= 5 and sink.rejected == 1 and "high" in (sink.last_error or "")
    stored = BarStore(db.engine).load_frame("NVDA", "1Min")
    assert stored["timestamp"].iloc[0] == pd.Timestamp(START)
    assert len(stored) == sink.stored >= 5
