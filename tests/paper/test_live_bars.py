"""Sessions behind the real live-bar sink: bars stored, then published to prices, the SimBroker and the
sessions (the workstation's order); history read back from the store as the chart reads it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import select

from core.db.models import SessionSnapshot, TradingSession
from core.db.models import Signal as SignalRow
from core.domain.bars import NormalizedBar
from core.market.frames import check_frame
from core.market.live import LiveBars
from core.market.store import BarStore
from core.paper.history import store_history
from core.paper.manager import PaperSessionConfig, PaperSessionManager
from tests.paper.cross_strategy import Cross
from tests.paper.helpers import T0, WAIT_S


def minutes_frame(closes: list[float], first: int) -> pd.DataFrame:
    stamps = pd.date_range(T0 + timedelta(minutes=first), periods=len(closes), freq="1min", tz="UTC")
    frame = pd.DataFrame({"timestamp": stamps, "open": closes, "high": [c + 0.05 for c in closes],
                          "low": [c - 0.05 for c in closes], "close": closes, "volume": [100.0] * len(closes),
                          "trade_count": pd.array([1] * len(closes), dtype="Int64"), "vwap": closes})  # fmt: skip
    return check_frame(frame).valid


@pytest.fixture
def store(db) -> Iterator[BarStore]:
    s = BarStore(db.engine)
    s.insert("ACME", "1Min", minutes_frame([100 - 0.1 * i for i in range(60)], -60), source="csv_import")
    yield s
    s.close()


@pytest.fixture
def live(store, prices, sim) -> Iterator[LiveBars]:
    sink = LiveBars(store, name="test-live-bars")
    sink.add_listener(lambda b: prices.update(b.symbol, Decimal(repr(b.close))))
    sink.add_listener(sim.on_bar)
    yield sink
    sink.close(5.0)


@pytest.fixture
def real_manager(db, ledger, store, subscriptions, clock, live) -> Iterator[PaperSessionManager]:
    manager = PaperSessionManager(db.session_factory, ledger, store_history(store), subscriptions, clock=clock,
                             config=PaperSessionConfig(window_bars=300))  # fmt: skip
    live.add_listener(manager.on_bar)
    yield manager
    manager.shutdown()


def test_one_and_five_minute_sessions_decide_on_closed_bars_from_the_store(db, real_manager, live, clock, make_user,
                                                                          save):  # fmt: skip
    alice, bob = make_user("alice"), make_user("bobby")
    five = real_manager.start(alice, save(alice).id, ["ACME"], "5Min", builtin=Cross)
    one = real_manager.start(bob, save(bob).id, ["ACME"], "1Min", builtin=Cross)
    closes = [94 + 0.3 * j for j in range(30)]
    for j, close in enumerate(closes):
        bar = NormalizedBar("ACME", "1Min", T0 + timedelta(minutes=j), close, close + 0.05, close - 0.05, close, 100,
                            source="test")  # fmt: skip
        clock.now = bar.end
        live.put(bar)
        assert live.flush(WAIT_S) and real_manager.wait_idle(WAIT_S)

    with db.session_factory() as s:
        rows = {r.id: r for r in s.scalars(select(TradingSession))}
        signals = list(s.scalars(select(SignalRow).where(SignalRow.session_id == five.id)))
        snapshots = list(s.scalars(select(SessionSnapshot).where(SessionSnapshot.session_id == five.id)))
    assert rows[five.id].state_metadata["bars_decided"] == 6  # one decision per closed 5-minute bar
    assert rows[one.id].state_metadata["bars_decided"] == 30
    [buy] = signals
    assert buy.action == "BUY" and buy.status == "EXECUTED"
    assert (buy.bar_timestamp - T0) % timedelta(minutes=5) == timedelta(0)
    bucket_last = (buy.bar_timestamp - T0) // timedelta(minutes=1) + 4
    assert buy.signal_metadata["bar_close"] == pytest.approx(closes[bucket_last])
    assert len(snapshots) == 1 and snapshots[0].equity == Decimal("100000")
    info = real_manager.get(five.id, alice)
    assert info.last_bar_at == T0 + timedelta(minutes=25) and info.status == "RUNNING"
