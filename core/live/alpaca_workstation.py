"""The workstation on the club's shared Alpaca paper account (used when Alpaca keys are configured).

Everything here is composed from pieces tested on their own: the ledger over a ClubDesk (orders stay virtual until
the club's router nets them), ClubService (the member elected by the trade stream's lock streams trade updates and
routes every trader's orders to AlpacaBroker behind the club's trading budget), SharedBarFeed (one client streams
the club's bars, stores them and NOTIFYs everyone), and the history service for chart ranges never fetched (its own
Market Data budget).
Endpoints can be pointed elsewhere (a proxy, or the tests' protocol stand-in) with environment variables.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from core.accounts.secrets import AlpacaKeys
from core.adapters.alpaca.bar_feed import AlpacaBarFeed
from core.adapters.alpaca.bar_history import AlpacaBarSource
from core.adapters.alpaca.broker import AlpacaBroker
from core.adapters.alpaca.budgeted_broker import BudgetedBroker
from core.adapters.alpaca.rate_budget import RateBudget
from core.adapters.alpaca.shared_bar_feed import SharedBarFeed, data_stream_key
from core.club.desk import ClubDesk
from core.club.open_symbols import OpenOrderSymbols
from core.club.service import ClubService, wake_by_notify
from core.db.raw import engine_of
from core.domain.bars import NormalizedBar
from core.domain.timeframes import Timeframe
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from core.ledger.stored_prices import StoredCloses
from core.live.workstation import ALPACA_PAPER, Workstation
from core.market.calendar import TradingCalendar
from core.market.history import HistoryService
from core.market.live import BarSink
from core.market.store import BarStore
from core.market.sync_log import SyncLog

DATA_BUDGET = "alpaca-data"
ENDPOINT_ENV = {
    "rest_url": "STRATFORGE_ALPACA_URL",
    "stream_url": "STRATFORGE_ALPACA_STREAM_URL",
    "data_url": "STRATFORGE_ALPACA_DATA_URL",
    "data_stream_url": "STRATFORGE_ALPACA_DATA_STREAM_URL",
}


@dataclass(frozen=True)
class AlpacaEndpoints:
    """None everywhere means Alpaca's own paper endpoints."""

    rest_url: str | None = None
    stream_url: str | None = None
    data_url: str | None = None
    data_stream_url: str | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> AlpacaEndpoints:
        env = os.environ if environ is None else environ
        return cls(**{field: env.get(name) or None for field, name in ENDPOINT_ENV.items()})


def alpaca(
    keys: AlpacaKeys,
    store: BarStore,
    session_factory: sessionmaker[Session],
    db_url: str,
    loop: asyncio.AbstractEventLoop,
    *,
    endpoints: AlpacaEndpoints | None = None,
    timeout_s: float = 10.0,
) -> Workstation:
    """`loop` is the app's running loop (the streams run on it); `Workstation.start()` joins the club."""
    ends = endpoints or AlpacaEndpoints.from_environment()
    stream_broker = AlpacaBroker(
        keys.key_id, keys.secret, url_override=ends.rest_url, stream_url_override=ends.stream_url, timeout_s=timeout_s
    )
    # Alpaca documents the Trading API's 200 requests a minute per account and a separate Market Data limit:
    # two budgets, so fetching history never starves order routing (and the reverse).
    trading_budget = RateBudget(session_factory)
    data_budget = RateBudget(session_factory, service=DATA_BUDGET)
    street = BudgetedBroker(stream_broker, trading_budget)
    # The ledger (this trader's, and the intake's that answers members' requests) values a symbol at its last stored
    # close until the feed prices it; the club's router waits for live prices.
    prices = LastPrices(stored=StoredCloses(engine_of(session_factory)))
    # The one active router of the club (this app when elected, else the club service or another member's app).
    club = ClubService(session_factory, db_url, stream_broker, prices.live_only, loop, ledger_prices=prices,
                       street=street)  # fmt: skip
    notify_router = wake_by_notify(session_factory)

    def wake_router() -> None:
        club.wake() if club.is_active else notify_router()

    ledger = Ledger(session_factory, ClubDesk(session_factory, wake_router, street), prices)
    source = AlpacaBarSource(keys.key_id, keys.secret, url_override=ends.data_url, budget=data_budget)
    engine = engine_of(session_factory)
    history = HistoryService(store, source, SyncLog(engine), TradingCalendar())

    def make_feed(sink: BarSink) -> AlpacaBarFeed:
        return AlpacaBarFeed(keys.key_id, keys.secret, sink, history=history, url_override=ends.data_stream_url)

    bars = SharedBarFeed(engine, db_url, store, loop, make_feed, stream_key=data_stream_key(keys.key_id),
                         history=history)  # fmt: skip

    def route_bar(bar: NormalizedBar) -> None:
        if bar.timeframe == Timeframe.MIN_1:
            club.on_bar(bar.symbol, bar)

    bars.add_listener(route_bar)
    # While this app routes, the feed also streams every symbol the club's open orders are on.
    wants = OpenOrderSymbols(session_factory, bars.want, active=lambda: club.is_active)

    async def subscribe(added: frozenset[str], removed: frozenset[str]) -> None:
        if added:
            await ws.in_worker(bars.want, added)
        if removed:
            await ws.in_worker(bars.unwant, removed)

    def describe(w: Workstation) -> tuple[str, bool, str, bool]:
        last = f", last bar {w.last_bar_at:%H:%M} UTC" if w.last_bar_at else ""
        feed = "holding the club's data stream" if bars.is_leader else "through the club's data stream"
        broker = "routing the club's orders" if club.is_active else "the club's router runs elsewhere"
        # A stream Alpaca keeps refusing (406: another connection on the account; refused keys) says so here, as
        # it changes (the streams' StreamHealth), instead of looking like a quiet market.
        feed_trouble, broker_trouble = bars.stream_status, club.stream_status
        feed_text = f"Feed: Alpaca, {feed}{last}" + (f" — {feed_trouble.message}" if feed_trouble else "")
        broker_text = f"Broker: Alpaca paper, {broker}" + (f" — {broker_trouble.message}" if broker_trouble else "")
        return feed_text, feed_trouble is None, broker_text, broker_trouble is None

    ws = Workstation(
        ALPACA_PAPER, store, bars, ledger, prices, subscribe=subscribe, describe=describe, feed=bars,
        closers=[wants.stop, club.stop, bars.stop], starters=[club.start, bars.start, wants.start], history=history,
        session_factory=session_factory,
    )  # fmt: skip
    return ws
