"""Paper sessions end to end: a strategy on scripted live bars, its signals, the ledger's orders and the
SimBroker's next-bar fills, in PostgreSQL. Every wait has a timeout; nothing asserts on elapsed time."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.db.models import Fill, Order, Position, SessionSnapshot, TradingSession
from core.db.models import Signal as SignalRow
from core.paper.manager import (
    ORPHANED,
    STOPPED_AT_EXIT,
    STOPPED_BY_TRADER,
    PaperSessionConfig,
    PaperSessionManager,
    owner_of,
)
from core.paper.types import PaperSessionChanged, PaperSessionError, PaperSessionFailed, SignalRecorded
from core.strategy.api import Strategy
from tests.paper.cross_strategy import Cross
from tests.paper.helpers import LIVE, T0, WAIT_S, series

D = Decimal

RAISES = """\
from core.strategy.api import Strategy


class Boom(Strategy):
    def next(self, data):
        if len(data.close) > 13:
            raise ValueError("the data looks wrong")
"""

SPINS = """\
from core.strategy.api import Strategy


class Spin(Strategy):
    def next(self, data):
        if len(data.close) > 12:
            while True:
                pass
"""


def rows(db, model, **where):
    with db.session_factory() as s:
        query = select(model).filter_by(**where)
        if hasattr(model, "created_at"):
            query = query.order_by(model.created_at)
        return list(s.scalars(query))


def signal_rows(db, session_id):
    with db.session_factory() as s:
        return list(s.scalars(select(SignalRow).where(SignalRow.session_id == session_id)
                              .order_by(SignalRow.bar_timestamp, SignalRow.generated_at)))  # fmt: skip


def session_row(db, session_id) -> TradingSession:
    with db.session_factory() as s:
        return s.get(TradingSession, session_id)


def test_a_builtin_strategy_trades_through_the_ledger_and_fills_on_the_next_bar(
    db, ledger, manager, market, make_user, save, subscriptions
):
    alice = make_user("alice")
    saved = save(alice)
    events = []
    manager.add_listener(events.append)

    info = manager.start(alice, saved.id, ["acme"], builtin=Cross)
    assert info.status == "RUNNING" and info.symbols == ("ACME",) and info.mode == "PAPER"
    assert info.class_name == "Cross" and info.parameters == {"fast": 3, "slow": 6, "size": 0.1}
    assert subscriptions.owners == {owner_of(info.id): frozenset({"ACME"})}
    row = session_row(db, info.id)
    assert row.strategy_version_id is not None and row.initial_capital == D("100000")
    assert row.state_metadata["runner"] == "builtin"

    market.feed(*series(LIVE[:3], 0, prev=94.5))  # bar 2 closes at 97: fast SMA crosses above slow
    [buy] = signal_rows(db, info.id)
    assert (buy.action, buy.quantity, buy.status) == ("BUY", D(103), "EXECUTED")
    assert buy.bar_timestamp == T0 + timedelta(minutes=2)
    assert buy.processed_at is not None and buy.signal_metadata["intent"]["kind"] == "target"
    ledger.flush_acceptances()
    [order] = rows(db, Order, user_id=alice)
    assert (order.session_id, order.signal_id, order.strategy_id) == (info.id, buy.id, saved.id)
    assert order.quantity == D(103) and order.side == "buy" and order.status == "accepted"
    assert rows(db, Fill, user_id=alice) == []  # not on the bar that produced it

    market.feed(*series(LIVE[3:6], 3, prev=97))  # the next bar opens at 97: the fill
    [fill] = rows(db, Fill, user_id=alice)
    assert (fill.price, fill.quantity, fill.session_id, fill.signal_id) == (D(97), D(103), info.id, buy.id)
    [position] = rows(db, Position, user_id=alice)
    assert position.quantity == D(103) and position.average_entry_price == D(97)
    assert len(signal_rows(db, info.id)) == 1  # holding: no new signal

    market.feed(*series(LIVE[6:10], 6, prev=100))  # bar 8 closes at 95: below; the sell fills at bar 9's open
    buy_again, sell = signal_rows(db, info.id)
    assert buy_again.id == buy.id and (sell.action, sell.quantity, sell.status) == ("SELL", D(103), "EXECUTED")
    assert [f.price for f in rows(db, Fill, user_id=alice)] == [D(97), D(95)]
    assert rows(db, Position, user_id=alice)[0].quantity == 0
    running = manager.get(info.id, alice)
    assert running.pnl == D(103) * (95 - 97) and running.signal_count == 2 and running.last_bar_at is not None

    recorded = [e.signal for e in events if isinstance(e, SignalRecorded)]
    assert [(s.action, s.status, s.price) for s in recorded] == [("BUY", "EXECUTED", 97.0), ("SELL", "EXECUTED", 95.0)]
    assert recorded[0].order_id == order.id
    assert any(isinstance(e, PaperSessionChanged) and e.session.last_bar_at for e in events)

    stopped = manager.stop(info.id, alice)
    assert stopped.status == "STOPPED" and stopped.ended_at is not None and stopped.stop_reason == STOPPED_BY_TRADER
    assert stopped.pnl == D("-206") and manager.running == [] and subscriptions.owners == {}
    row = session_row(db, info.id)
    assert row.final_pnl == D("-206") and row.current_capital == D("99794") and row.error_message is None
    [snapshot] = rows(db, SessionSnapshot, session_id=info.id)
    assert snapshot.equity == D("99794") and str(snapshot.snapshot_date) == "2025-03-03"
    assert snapshot.cumulative_return == D("-0.002060")
    assert not any(t.name.startswith(f"session-{info.id.hex[:8]}") for t in threading.enumerate())
    market.feed(*series([89], 12, prev=90))  # bars after the stop reach no one
    assert len(signal_rows(db, info.id)) == 2


def test_a_signal_the_risk_rules_refuse_is_rejected_with_their_reason(db, manager, market, make_user, save):
    bob = make_user("bob", max_order_value=D("5000"))
    info = manager.start(bob, save(bob).id, ["ACME"], builtin=Cross)
    market.feed(*series(LIVE[:4], 0, prev=94.5))
    first, second = signal_rows(db, info.id)  # still flat at bar 3: the strategy asks again
    assert (first.action, first.quantity, first.status) == ("BUY", D(103), "REJECTED")
    # the same refusal again: said once, on the first signal, with the latest numbers and the limit to change
    assert first.reason == (
        "Order value $9,996.00 exceeds your limit of $5,000.00 (max order value: change it in Settings > Risk) - "
        "repeated on 2 bars."
    )
    assert second.status == "REJECTED" and second.signal_metadata["repeat_of"] == str(first.id)
    assert [s.id for s in manager.signals(info.id, bob)] == [first.id]
    assert rows(db, Order, user_id=bob) == []
    assert manager.get(info.id, bob).status == "RUNNING"


def test_a_buy_is_trimmed_to_what_the_ledger_could_reserve(db, manager, market, make_user, save):
    carol = make_user("carol")
    info = manager.start(carol, save(carol).id, ["ACME"], params={"size": 1.0}, builtin=Cross)
    market.feed(*series(LIVE[:3], 0, prev=94.5))
    [signal] = signal_rows(db, info.id)
    # 100% of equity is 1,030 shares at 97; the ledger would reserve 97 plus its 3% collar a share, so 1,000 fit.
    assert (signal.quantity, signal.status) == (D(1000), "REJECTED")
    assert signal.reason == (
        "Order value $97,000.00 exceeds your limit of $25,000.00 (max order value: change it in Settings > Risk)."
    )
    assert signal.signal_metadata["order"]["trimmed_from"] == "1030"  # said, not trimmed quietly


def test_a_traders_source_runs_in_the_sandbox_and_signals_like_the_builtin(db, manager, market, make_user, save):
    alice, bob = make_user("alice"), make_user("bob")
    builtin = manager.start(alice, save(alice).id, ["ACME"], builtin=Cross)
    sandboxed = manager.start(bob, save(bob).id, ["ACME"])
    assert session_row(db, sandboxed.id).state_metadata["runner"] == "sandbox"
    market.feed(*series(LIVE[:10], 0, prev=94.5))

    def summary(session_id):
        return [(s.symbol, s.action, s.quantity, s.status, s.bar_timestamp) for s in signal_rows(db, session_id)]

    assert summary(sandboxed.id) == summary(builtin.id)
    assert [s[1] for s in summary(builtin.id)] == ["BUY", "SELL"]
    assert [f.price for f in rows(db, Fill, user_id=bob)] == [D(97), D(95)]


def test_a_strategy_that_raises_fails_the_session_with_its_line(db, manager, market, make_user, save, subscriptions):
    dora = make_user("dora")
    events = []
    manager.add_listener(events.append)
    info = manager.start(dora, save(dora, "Boom", RAISES).id, ["ACME"], capital=D(50_000))
    keeps_running = manager.start(dora, save(dora).id, ["ACME"], builtin=Cross)
    market.feed(*series(LIVE[:3], 0, prev=94.5))

    failed = manager.get(info.id, dora)
    assert failed.status == "FAILED" and failed.ended_at is not None
    assert failed.error_message == "ValueError: the data looks wrong (line 7 of the strategy)"
    assert "line 7 in next" in failed.details
    assert [e.session.id for e in events if isinstance(e, PaperSessionFailed)] == [info.id]
    assert manager.running == [keeps_running.id] and owner_of(info.id) not in subscriptions.owners
    assert manager.get(keeps_running.id, dora).status == "RUNNING"
    assert len(signal_rows(db, keeps_running.id)) == 1  # the other session went on trading


def test_a_strategy_that_loops_forever_is_stopped_by_the_sandbox(db, manager, market, make_user, save):
    eve = make_user("eve")
    info = manager.start(eve, save(eve, "Spin", SPINS).id, ["ACME"])
    market.feed(*series(LIVE[:1], 0, prev=94.5))
    failed = manager.get(info.id, eve)
    assert failed.status == "FAILED" and "more than 2 s of CPU" in failed.error_message
    assert re.search(r"line [78]\b", failed.error_message)


def test_a_second_start_of_a_running_strategy_is_refused_until_it_stops(db, manager, make_user, save, clock):
    frank = make_user("frank")
    saved = save(frank)
    first = manager.start(frank, saved.id, ["ACME"])
    with pytest.raises(PaperSessionError, match=r"Cross is already running as a paper session .*stop it first"):
        manager.start(frank, saved.id, ["MSFT"])
    manager.stop(first.id, frank)
    clock.now += timedelta(minutes=1)
    again = manager.start(frank, saved.id, ["MSFT"])
    assert again.status == "RUNNING" and [s.id for s in manager.list(frank)] == [again.id, first.id]


@pytest.mark.parametrize(
    ("symbols", "timeframe", "params", "message"),
    [
        (["ACME"], "1Min", {"fast": 1}, "fast must be at least 2"),
        (["ACME"], "1Min", {"speed": 3}, "Cross has no parameter"),
        (["acme", "bad symbol"], "1Min", None, "'bad symbol' is not a valid symbol"),
        ([" "], "1Min", None, "Enter at least one symbol"),
        (["ACME"], "2Min", None, "Unknown timeframe"),
    ],
)
def test_a_session_that_cannot_run_is_refused_before_it_starts(db, manager, make_user, save, symbols, timeframe,
                                                               params, message):  # fmt: skip
    gina = make_user("gina")
    with pytest.raises(PaperSessionError, match=message):
        manager.start(gina, save(gina).id, symbols, timeframe, params)
    assert manager.list(gina) == [] and manager.running == []


def test_someone_elses_strategy_or_session_is_not_found(db, manager, make_user, save):
    hal, ida = make_user("hal"), make_user("ida")
    info = manager.start(hal, save(hal).id, ["ACME"])
    with pytest.raises(PaperSessionError, match="No such strategy"):
        manager.start(ida, save(hal, "Other").id, ["ACME"])
    with pytest.raises(PaperSessionError, match="No such session"):
        manager.stop(info.id, ida)
    assert manager.signals(info.id, ida) == [] and manager.get(info.id, hal).status == "RUNNING"


def test_sessions_left_running_by_a_closed_app_are_stopped_with_the_reason(db, manager, make_user, save, ledger,
                                                                          history, subscriptions, clock):  # fmt: skip
    jo = make_user("joan")
    crashed_app = PaperSessionManager(db.session_factory, ledger, history, subscriptions, clock=clock)
    orphan = crashed_app.start(jo, save(jo, "Left behind").id, ["ACME"], capital=D(30_000))
    dead_thread = crashed_app._workers[orphan.id]
    crashed_app._drop(orphan.id)  # the app died: its thread is forgotten, the row still says RUNNING
    crashed_app.shutdown()
    # Touched moments ago: another running copy of the app may still own it.
    assert manager.stop_orphans(jo) == [] and manager.get(orphan.id, jo).status == "RUNNING"

    restarted = PaperSessionManager(db.session_factory, ledger, history, subscriptions, clock=clock,
                               config=PaperSessionConfig(orphan_after=timedelta(0)))  # fmt: skip
    ours = restarted.start(jo, save(jo).id, ["ACME"])
    try:
        [stopped] = restarted.stop_orphans(jo)
        assert stopped.id == orphan.id and stopped.status == "STOPPED" and stopped.stop_reason == ORPHANED
        assert stopped.ended_at is not None and stopped.pnl == 0
        assert restarted.get(ours.id, jo).status == "RUNNING"  # its own sessions are not orphans
    finally:
        restarted.shutdown()
        dead_thread.request_stop()  # it and its strategy host end here, as they would have with the dead app
        assert dead_thread.join(10)


def test_shutdown_stops_every_session_with_the_reason(db, manager, make_user, save, subscriptions):
    kim = make_user("kim")
    one = manager.start(kim, save(kim).id, ["ACME"], capital=D(40_000))
    two = manager.start(kim, save(kim, "Second").id, ["MSFT", "ACME"])
    manager.shutdown()
    assert {(s.id, s.status, s.stop_reason) for s in manager.list(kim)} == {
        (one.id, "STOPPED", STOPPED_AT_EXIT),
        (two.id, "STOPPED", STOPPED_AT_EXIT),
    }
    assert manager.running == [] and subscriptions.owners == {}
    with pytest.raises(PaperSessionError, match="shutting down"):
        manager.start(kim, save(kim, "Third").id, ["ACME"])


ENTERED, RELEASE = threading.Event(), threading.Event()


class Gate(Strategy):
    """Holds its decision on the first live bar until the test releases it (then never again)."""

    def next(self, data):
        if data.time[-1] == T0.timestamp() and not RELEASE.is_set():
            ENTERED.set()
            RELEASE.wait(WAIT_S)


def test_a_session_behind_the_feed_decides_only_on_the_newest_bar(db, manager, market, make_user, save):
    ENTERED.clear()
    RELEASE.clear()
    lou = make_user("louis")
    info = manager.start(lou, save(lou).id, ["ACME"], builtin=Gate)
    first, *later = series(LIVE[:4], 0, prev=94.5)
    manager.on_bar(first)
    assert ENTERED.wait(WAIT_S)
    for b in later:  # they queue while the strategy is still deciding on the first
        manager.on_bar(b)
    RELEASE.set()
    assert manager.wait_idle(WAIT_S)
    meta = session_row(db, info.id).state_metadata
    assert (meta["bars_decided"], meta["skipped"]) == (2, 2)
    assert manager.get(info.id, lou).last_bar_at == later[-1].timestamp
