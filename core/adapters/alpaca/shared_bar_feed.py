"""One market-data stream per data key, shared through the database by every running client.

Alpaca allows one market-data connection per account (a second is refused with
406). When club members share a data key, the clients elect one holder with a
PostgreSQL advisory lock (``StreamLeadership``, as for trade updates); only the
holder runs an ``AlpacaBarFeed``. Everything else goes through the database:

* every client announces the symbols it wants on ``stratforge_bar_wants``
  (NOTIFY, repeated every ``announce_s``; wants not repeated for three periods
  expire), and the holder streams their union;
* the holder stores each bar, then NOTIFYs it on ``stratforge_bars``; every client,
  the holder included, publishes bars to its own listeners from that channel, so
  all clients see the same bars in the same order;
* a newly elected holder first fetches, through the history path, the minutes
  since the last stored bar of each wanted symbol (the handover gap), so the
  stored series has no hole, and publishes them.

NOTIFY is a hint: a client whose LISTEN connection drops misses the bars of that
moment on screen, but they are stored; charts reload from the store.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from sqlalchemy import Engine

from core.adapters.alpaca.bar_feed import AlpacaBarFeed
from core.adapters.alpaca.stream_health import StreamStatus
from core.adapters.alpaca.stream_leadership import StreamLeadership
from core.db.advisory import advisory_key
from core.db.notify import NotificationListener
from core.db.raw import raw_connection
from core.domain.bars import MalformedBar, NormalizedBar
from core.domain.clock import utc_now
from core.domain.symbols import normalize_symbol
from core.domain.timeframes import Timeframe
from core.market.errors import MarketDataError
from core.market.history import HistoryService
from core.market.live import BarListener, BarSink, LiveBars, bars_of
from core.market.store import BarStore

log = logging.getLogger(__name__)

BARS_CHANNEL = "stratforge_bars"
WANTS_CHANNEL = "stratforge_bar_wants"
MINUTE = timedelta(minutes=1)


def data_stream_key(api_key: str) -> int:
    """The advisory-lock key of one data key's stream (clients with their own key never compete)."""
    return advisory_key(f"stratforge.stream.alpaca.market_data.{api_key}")


def bar_payload(bar: NormalizedBar) -> str:
    return json.dumps(
        {
            "S": bar.symbol, "tf": bar.timeframe, "t": bar.timestamp.isoformat(), "o": bar.open, "h": bar.high,
            "l": bar.low, "c": bar.close, "v": bar.volume, "n": bar.trade_count, "vw": bar.vwap, "src": bar.source,
        }
    )  # fmt: skip


def bar_from_payload(payload: str) -> NormalizedBar:
    try:
        d = json.loads(payload)
        return NormalizedBar(
            d["S"], d["tf"], datetime.fromisoformat(d["t"]), d["o"], d["h"], d["l"], d["c"], d["v"], d["n"], d["vw"],
            source=d["src"],
        )  # fmt: skip
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedBar(f"unreadable bar notification: {exc}") from exc


class SharedBarFeed:
    """This client's part. ``want``/``unwant`` symbols; bars reach ``add_listener`` callbacks (on a worker thread)."""

    def __init__(
        self,
        engine: Engine,
        db_url: str,
        store: BarStore,
        loop: asyncio.AbstractEventLoop,
        make_feed: Callable[[BarSink], AlpacaBarFeed] | None,
        *,
        stream_key: int,
        history: HistoryService | None = None,
        announce_s: float = 10.0,
        poll_s: float = 1.0,
        clock: Callable[[], datetime] = utc_now,
        name: str = "bars",
    ) -> None:
        self._engine = engine
        self._store = store
        self._loop = loop
        self._make_feed = make_feed
        self._history = history
        self._announce_s = announce_s
        self._now = clock
        self.name = name
        self.client_id = uuid.uuid4().hex[:12]
        self._wanted: set[str] = set()
        self._others: dict[str, tuple[frozenset[str], float]] = {}  # client id -> (symbols, when heard)
        self._lock = threading.Lock()
        self._published = LiveBars(None, name=f"{name}-publish")  # bars heard on the channel -> listeners
        self._recorder: LiveBars | None = None  # the holder's: store, then NOTIFY
        self._feed: AlpacaBarFeed | None = None
        self._feed_future: object | None = None
        self._bars_listener = NotificationListener(db_url, BARS_CHANNEL, self._on_bar_note, poll_s=0.2)
        self._wants_listener = NotificationListener(db_url, WANTS_CHANNEL, self._on_wants_note, poll_s=0.2)
        self._stop = threading.Event()
        self._announcer = threading.Thread(target=self._announce_loop, name=f"{name}-announce", daemon=True)
        self.leadership = StreamLeadership(
            db_url, key=stream_key, on_elected=self._on_elected, on_demoted=self._on_demoted, poll_s=poll_s, name=name
        )

    # ---- public ----

    @property
    def is_leader(self) -> bool:
        return self.leadership.is_leader

    @property
    def feed(self) -> AlpacaBarFeed | None:
        return self._feed

    @property
    def stream_status(self) -> StreamStatus | None:
        """The data stream's trouble (a 406, refused keys) while this client holds it; None: nothing to show."""
        feed = self._feed
        if feed is None or not self.is_leader:
            return None
        status = feed.status
        return None if status.ok else status

    def add_listener(self, listener: BarListener) -> None:
        self._published.add_listener(listener)

    def start(self) -> None:
        """Listen for the club's bars and announce this client's wants; compete to hold the stream only with
        ``make_feed`` (a club member without the account's keys only listens: the club service streams)."""
        self._bars_listener.start()
        self._wants_listener.start()
        self._announcer.start()
        if self._make_feed is not None:
            self.leadership.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Leave cleanly: stop streaming if holding the stream, release it, stop listening."""
        self._stop.set()
        self.leadership.stop(timeout)
        self._bars_listener.stop()
        self._wants_listener.stop()
        self._published.close(timeout)

    def crash(self) -> None:
        """Tests: behave like a client whose process died (no clean stop of anything but the stream)."""
        self._stop.set()
        self.leadership.kill()
        self._stop_feed()
        self._bars_listener.stop()
        self._wants_listener.stop()

    def want(self, symbols: Iterable[str]) -> None:
        with self._lock:
            self._wanted |= {normalize_symbol(s) for s in symbols}
        self._announce()

    def unwant(self, symbols: Iterable[str]) -> None:
        with self._lock:
            self._wanted -= {normalize_symbol(s) for s in symbols}
        self._announce()

    def demand(self) -> frozenset[str]:
        """Every symbol some live client wants (what the holder streams)."""
        horizon = time.monotonic() - 3 * self._announce_s
        with self._lock:
            others = [symbols for symbols, heard in self._others.values() if heard >= horizon]
            return frozenset(self._wanted).union(*others)

    # ---- wants ----

    def _announce(self, ask: bool = False) -> None:
        with self._lock:
            payload = json.dumps({"client": self.client_id, "symbols": sorted(self._wanted), "ask": ask})
        try:
            _notify(self._engine, WANTS_CHANNEL, payload)
        except Exception as exc:  # the database is briefly away: the next period announces again
            log.warning("%s: could not announce wanted symbols: %s", self.name, exc)
        self._resubscribe()

    def _announce_loop(self) -> None:
        while not self._stop.wait(self._announce_s):
            self._announce()

    def _on_wants_note(self, payload: str) -> None:
        try:
            note = json.loads(payload)
            client, symbols, ask = str(note["client"]), frozenset(note["symbols"]), bool(note.get("ask"))
        except (ValueError, KeyError, TypeError):
            log.warning("%s: unreadable wants notification %r", self.name, payload[:100])
            return
        if client != self.client_id:
            with self._lock:
                self._others[client] = (symbols, time.monotonic())
            if ask:  # a new holder asks who wants what
                self._announce()
        self._resubscribe()

    def _resubscribe(self) -> None:
        feed = self._feed
        if feed is None or not self.is_leader:
            return
        demand = self.demand()
        current = feed.symbols

        async def apply() -> None:
            await feed.subscribe(demand - current)
            await feed.unsubscribe(current - demand)

        if demand != current:
            asyncio.run_coroutine_threadsafe(apply(), self._loop)

    # ---- bars ----

    def _on_bar_note(self, payload: str) -> None:
        try:
            bar = bar_from_payload(payload)
        except MalformedBar as exc:
            log.warning("%s: %s", self.name, exc)
            return
        self._published.put(bar)

    def _notify_bar(self, bar: NormalizedBar) -> None:
        try:
            _notify(self._engine, BARS_CHANNEL, bar_payload(bar))
        except Exception as exc:  # stored anyway; listeners reload from the store
            log.warning("%s: could not announce the %s bar of %s: %s", self.name, bar.symbol, bar.timestamp, exc)

    # ---- leadership (leadership thread) ----

    def _on_elected(self) -> None:
        log.info("%s: holding the market-data stream", self.name)
        recorder = LiveBars(self._store, name=f"{self.name}-record")
        recorder.add_listener(self._notify_bar)
        assert self._make_feed is not None  # a listening-only client never competes
        feed = self._make_feed(recorder)
        self._recorder, self._feed = recorder, feed
        self._feed_future = asyncio.run_coroutine_threadsafe(feed.run(), self._loop)
        self._announce(ask=True)  # everyone re-announces: the new holder learns the demand at once
        self._catch_up(recorder)

    def _on_demoted(self) -> None:
        log.info("%s: no longer holding the market-data stream", self.name)
        self._stop_feed()

    def _stop_feed(self) -> None:
        feed, recorder = self._feed, self._recorder
        self._feed = self._recorder = None
        if feed is not None:
            try:
                asyncio.run_coroutine_threadsafe(feed.stop(), self._loop).result(10)
            except Exception as exc:  # a stuck loop must not wedge the handover
                log.warning("%s: feed did not stop cleanly: %s", self.name, exc)
        if recorder is not None:
            recorder.close(10)

    def _catch_up(self, recorder: LiveBars) -> None:
        """Fetch and publish what nobody stored while no one held the stream (history path)."""
        if self._history is None:
            return
        now = self._now()
        for symbol in sorted(self.demand()):
            last = self._store.last_open(symbol, Timeframe.MIN_1)
            if last is None:
                continue
            try:
                result = self._history.bars(symbol, Timeframe.MIN_1, last + MINUTE, now)
            except MarketDataError as exc:
                log.warning("%s: could not catch up %s after the handover: %s", self.name, symbol, exc)
                continue
            recorder.publish_stored(bars_of(symbol, Timeframe.MIN_1, result.frame, source="alpaca"))


def _notify(engine: Engine, channel: str, payload: str) -> None:
    with raw_connection(engine, autocommit=True) as conn:
        conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))
