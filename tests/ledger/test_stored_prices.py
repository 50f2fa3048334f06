"""The last stored close is the price until live data arrives, and says so; the router never sees it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from core.domain.orders import OrderSide
from core.domain.tickets import OrderTicket
from core.ledger.errors import OrderRejected
from core.ledger.prices import LastPrices, PriceOrigin
from core.ledger.service import Ledger
from core.ledger.stored_prices import StoredCloses, bar_close_time, newest_close
from core.market.frames import check_frame
from core.market.store import BarStore
from tests.ledger.manual_broker import ManualBroker

FRIDAY = datetime(2025, 3, 7, tzinfo=UTC)


def bars(closes: list[float], start: datetime, freq: str) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range(start, periods=len(closes), freq=freq, tz="UTC"),
            "open": closes,
            "high": [c + 0.5 for c in closes],
            "low": [c - 0.5 for c in closes],
            "close": closes,
            "volume": [100.0] * len(closes),
        }
    )
    return check_frame(frame).valid


@pytest.fixture
def store(db):
    s = BarStore(db.engine)
    yield s
    s.close()


def test_a_daily_bar_closes_at_four_in_new_york_and_a_minute_one_minute_later() -> None:
    assert bar_close_time("1Day", datetime(2025, 3, 7, 5, tzinfo=UTC)) == datetime(2025, 3, 7, 21, tzinfo=UTC)
    assert bar_close_time("1Min", datetime(2025, 3, 7, 20, 59, tzinfo=UTC)) == datetime(2025, 3, 7, 21, tzinfo=UTC)


def test_the_bar_that_closed_last_wins_and_the_finer_one_on_a_tie() -> None:
    day_open = datetime(2025, 3, 7, 5, tzinfo=UTC)  # New York midnight: closes 21:00 UTC
    last_minute = datetime(2025, 3, 7, 20, 59, tzinfo=UTC)  # also closes 21:00 UTC
    quote = newest_close([("1Day", day_open, 410.0), ("1Min", last_minute, 412.3)], "SPY")
    assert quote is not None and quote.price == Decimal("412.3") and quote.stale
    assert quote.as_of == datetime(2025, 3, 7, 21, tzinfo=UTC)
    earlier = newest_close([("1Day", day_open, 410.0), ("1Min", last_minute - timedelta(hours=2), 409.0)], "SPY")
    assert earlier is not None and earlier.price == Decimal("410.0")
    assert newest_close([], "SPY") is None


def test_the_stored_close_answers_until_the_feed_prices_the_symbol(db, store: BarStore) -> None:
    store.insert("SPY", "1Min", bars([410.0, 411.0, 412.3], FRIDAY.replace(hour=20, minute=57), "1min"),
                 source="csv_import")  # fmt: skip
    store.insert("SPY", "1Day", bars([400.0], FRIDAY.replace(hour=5), "1D"), source="csv_import")
    prices = LastPrices(stored=StoredCloses(db.engine))

    stored = prices.quote("SPY")
    assert stored is not None and stored.source is PriceOrigin.STORED and stored.stale
    assert stored.price == Decimal("412.3") and stored.as_of == FRIDAY.replace(hour=21)
    assert prices.last_price("SPY") == Decimal("412.3")
    assert prices.live_only.last_price("SPY") is None  # the router waits for the market

    prices.update("SPY", Decimal("412.55"))
    live = prices.quote("SPY")
    assert live is not None and live.source is PriceOrigin.LIVE and not live.stale and live.price == Decimal("412.55")
    assert prices.live_only.last_price("SPY") == Decimal("412.55")


def test_a_symbol_without_stored_bars_has_no_price_and_is_asked_again_later(db, store: BarStore) -> None:
    now = [0.0]
    closes = StoredCloses(db.engine, miss_ttl_s=30, clock=lambda: now[0])
    prices = LastPrices(stored=closes)
    assert prices.quote("NVDA") is None
    store.insert("NVDA", "1Min", bars([120.0], FRIDAY.replace(hour=15), "1min"), source="csv_import")
    assert prices.quote("NVDA") is None  # the miss is remembered for a while
    now[0] = 31.0
    quote = prices.quote("NVDA")
    assert quote is not None and quote.price == Decimal("120.0")
    assert prices.cached_quote("NVDA") == quote  # known now without reading the database


def test_an_order_is_valued_at_the_stored_close_before_live_data(db, store: BarStore, make_user) -> None:
    store.insert("SPY", "1Min", bars([412.3], FRIDAY.replace(hour=20, minute=59), "1min"), source="csv_import")
    user = make_user("ada", max_order_value=Decimal("1000"))
    ledger = Ledger(db.session_factory, ManualBroker(), LastPrices(stored=StoredCloses(db.engine)))
    with pytest.raises(OrderRejected, match=r"Order value \$4,123.00 exceeds"):
        ledger.place_order(user, OrderTicket("SPY", OrderSide.BUY, Decimal("10")))
    placed = ledger.place_order(user, OrderTicket("SPY", OrderSide.BUY, Decimal("2")))
    assert placed.id is not None


def test_a_symbol_with_no_stored_bar_keeps_the_risk_rules_words(db, make_user) -> None:
    user = make_user("ada")
    ledger = Ledger(db.session_factory, ManualBroker(), LastPrices(stored=StoredCloses(db.engine)))
    with pytest.raises(OrderRejected, match="No price is known for QQQ yet"):
        ledger.place_order(user, OrderTicket("QQQ", OrderSide.BUY, Decimal("1")))
