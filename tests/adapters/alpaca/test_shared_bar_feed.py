"""Two clients sharing one data key: one stream, every bar through the database, a handover without a hole."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from core.adapters.alpaca.bar_feed import AlpacaBarFeed
from core.adapters.alpaca.bar_history import AlpacaBarSource
from core.adapters.alpaca.shared_bar_feed import SharedBarFeed, bar_from_payload, bar_payload
from core.db.advisory import advisory_key
from core.db.engine import make_engine
from core.domain.bars import NormalizedBar
from core.market.calendar import TradingCalendar
from core.market.history import HistoryService
from core.market.store import BarStore
from core.market.sync_log import SyncLog
from tests.adapters.alpaca.test_bar_feed import DAY, Heard, LoopThread, minute_bars, wait_until
from tests.market.test_history import ny


@pytest.fixture
def club(db, alpaca):
    """Builds club clients on the test database; each has its own engine, loop thread and store."""
    url = db.engine.url.render_as_string(hide_password=False)
    key = advisory_key(f"test-bars-{uuid.uuid4()}")
    clock = [ny(DAY, 10, 5)]
    made: list[tuple[SharedBarFeed, LoopThread, BarStore]] = []

    def client(name: str) -> tuple[SharedBarFeed, Heard]:
        engine = make_engine(url, pool_size=3, max_overflow=2)
        store = BarStore(engine)
        loop = LoopThread()
        source = AlpacaBarSource(alpaca.key_id, alpaca.secret_key, url_override=alpaca.rest_url, timeout_s=20)
        history = HistoryService(store, source, SyncLog(engine), TradingCalendar(2026), clock=lambda: clock[0])

        def make_feed(sink):
            return AlpacaBarFeed(
                alpaca.key_id, alpaca.secret_key, sink, history=history, url_override=alpaca.data_stream_url,
                clock=lambda: clock[0],
            )  # fmt: skip

        shared = SharedBarFeed(
            engine, url, store, loop.loop, make_feed, stream_key=key, history=history, announce_s=0.5, poll_s=0.2,
            clock=lambda: clock[0], name=name,
        )  # fmt: skip
        heard = Heard()
        shared.add_listener(heard)
        made.append((shared, loop, store))
        return shared, heard

    yield client, clock
    for shared, loop, store in made:
        shared.stop(5)
        loop.close()
        store.close()


def test_bar_notifications_round_trip():
    bar = NormalizedBar("AAPL", "1Min", ny(DAY, 10), 1.0, 2.0, 0.5, 1.5, 100, 7, None, source="alpaca")
    assert bar_from_payload(bar_payload(bar)) == bar


def test_one_stream_for_the_club_every_bar_for_everyone_and_a_handover_without_a_hole(alpaca, club):
    client, clock = club
    first, first_heard = client("first")
    first.start()
    assert first.leadership.wait_until_leader(10)
    second, second_heard = client("second")
    second.start()
    second.want(["AAPL"])  # only the follower wants AAPL: the holder must learn it through the database
    assert alpaca.wait_for_bar_subscribers("AAPL", timeout=10)
    assert not second.is_leader

    everything = minute_bars(ny(DAY, 10), 9)  # 10:00 .. 10:08
    alpaca.add_bars("AAPL", "1Min", everything)
    for _, row in everything.iloc[:4].iterrows():  # 10:00 .. 10:03 while the first client holds the stream
        assert alpaca.publish_bar("AAPL", row) == 1
    assert wait_until(lambda: len(second_heard.of("AAPL")) == 4 and len(first_heard.of("AAPL")) == 4)
    assert alpaca.data_connections_accepted == 1 and alpaca.data_connection_refusals == 0

    clock[0] = ny(DAY, 10, 7) + timedelta(seconds=20)
    first.crash()  # the holder dies; 10:04 .. 10:06 pass with nobody streaming
    assert second.leadership.wait_until_leader(15)
    assert alpaca.wait_for_bar_subscribers("AAPL", timeout=15)
    assert wait_until(lambda: len(second_heard.of("AAPL")) == 7, timeout=15), second_heard.of("AAPL")
    alpaca.publish_bar("AAPL", everything.iloc[7])  # 10:07, streamed by the new holder
    assert wait_until(lambda: len(second_heard.of("AAPL")) == 8)

    stored = BarStore(second._engine).load_frame("AAPL", "1Min")
    assert stored["timestamp"].tolist() == everything["timestamp"].iloc[:8].tolist()  # no hole, no duplicate
    assert sorted(second_heard.of("AAPL")) == [t.to_pydatetime() for t in everything["timestamp"].iloc[:8]]
    assert alpaca.data_connections_accepted == 2 and alpaca.data_connection_refusals == 0
