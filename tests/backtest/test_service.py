"""The app's backtest service on a real database: stored bars in, a stored result (or failure) out, private."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy import func, select

from core.backtest.bar_source import NoBarsError, stored_bars
from core.backtest.engine import BacktestConfig
from core.backtest.service import (
    BacktestCancelled,
    BacktestError,
    BacktestRequest,
    ResultNotFound,
    load_for_display,
    past_results,
    run_and_store,
)
from core.backtest.strategy_ref import SandboxLimits, StrategyRef, run_detailed
from core.db.models import BacktestResult, StrategyVersion
from core.market.store import BarStore
from core.strategy.library import StrategyDraft, save_strategy
from tests.backtest.test_sandboxed_backtest import CROSS, SPINS
from tests.gui.conftest import STRONG_PASSWORD
from tests.market.test_store import minutes

T0 = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)
START, END = datetime(2025, 3, 3, tzinfo=UTC), datetime(2025, 3, 8, tzinfo=UTC)


@pytest.fixture
def store(db):
    s = BarStore(db.engine)
    s.insert("ACME", "1Min", minutes(1_500, start=T0, seed=4), source="csv_import")
    yield s
    s.close()


@pytest.fixture
def user(accounts) -> uuid.UUID:
    return accounts.sign_up("ada@example.com", "ada", STRONG_PASSWORD).id


@pytest.fixture
def saved(db, user):
    return save_strategy(db.session_factory, user, StrategyDraft("Cross", CROSS))


def request_for(user, saved, **changes) -> BacktestRequest:
    fields = {"user_id": user, "symbol": "acme", "timeframe": "1Min", "start": START, "end": END,
              "strategy_id": saved.id, "params": {"fast": 5}} | changes  # fmt: skip
    return BacktestRequest(**fields)


def test_run_and_store_stores_the_version_and_the_same_metrics_as_a_direct_run(db, store, user, saved):
    run = run_and_store(db.session_factory, store, request_for(user, saved))

    data = stored_bars(store, "1Min", START, END)("ACME")
    direct = run_detailed(StrategyRef("Cross", source=CROSS), data, {"fast": 5})
    with db.session_factory() as s:
        row = s.get(BacktestResult, run.result_id)
        version = s.scalars(select(StrategyVersion).where(StrategyVersion.strategy_id == saved.id)).one()
        assert row is not None and row.status == "completed"
        assert (row.strategy_id, row.strategy_version_id) == (saved.id, version.id)
        assert row.symbols == ["ACME"] and row.parameters == {"fast": 5, "slow": 30}
        assert row.metrics == direct["metrics"]
        assert row.metrics["bar_count"] == 1_500 and len(row.trades) == direct["metrics"]["trade_count"] > 0
    assert run.bar_count == 1_500
    assert run.display.metrics == direct["metrics"] and len(run.display.equity) == 1_500
    assert run.display.drawdown.min() == pytest.approx(direct["metrics"]["max_drawdown"])


def test_source_and_config_requests_run_without_a_saved_strategy(db, store, user):
    config = BacktestConfig(Decimal("5000"))
    run = run_and_store(db.session_factory, store, BacktestRequest(
        user, "ACME", "1Min", START, END, source=CROSS, class_name="Cross", config=config))  # fmt: skip
    with db.session_factory() as s:
        row = s.get(BacktestResult, run.result_id)
        assert row.strategy_id is None and row.strategy_version_id is None and row.initial_capital == 5000
        assert row.name == "Cross ACME 1Min"
    assert run.display.equity[0] == pytest.approx(5000, rel=0.05)


def test_no_bars_is_a_clear_error_and_a_failed_row(db, store, user, saved):
    with pytest.raises(NoBarsError) as expected:
        stored_bars(store, "1Min", START, END)("ZZZ")
    with pytest.raises(BacktestError) as failed:
        run_and_store(db.session_factory, store, request_for(user, saved, symbol="zzz"))

    assert str(failed.value) == str(expected.value) and "no 1Min bars stored for ZZZ" in str(failed.value)
    assert "strategy: Cross" in failed.value.details
    with db.session_factory() as s:
        row = s.get(BacktestResult, failed.value.result_id)
        assert row.status == "failed" and row.error_message == str(expected.value) and row.symbols == ["ZZZ"]
        assert row.strategy_id == saved.id
    [summary] = past_results(db.session_factory, user)
    assert summary.status == "failed" and summary.error_message == str(expected.value)


def test_a_strategy_error_names_its_line_and_is_stored_as_failed(db, store, user, saved):
    with pytest.raises(BacktestError) as failed:
        run_and_store(db.session_factory, store, request_for(user, saved, params={"fast": 13}))
    assert "thirteen is unlucky" in str(failed.value) and "line" in str(failed.value)
    assert "strategy trace" in failed.value.details
    with db.session_factory() as s:
        assert s.get(BacktestResult, failed.value.result_id).status == "failed"


def test_a_wrong_request_is_refused_and_not_stored(db, store, user, saved):
    with pytest.raises(BacktestError, match="no strategy class 'Nope'"):
        run_and_store(db.session_factory, store, request_for(user, saved, class_name="Nope"))
    with pytest.raises(BacktestError, match="after the start"):
        run_and_store(db.session_factory, store, request_for(user, saved, start=END, end=START))
    with pytest.raises(BacktestError, match="no such strategy"):
        run_and_store(db.session_factory, store, request_for(user, saved, strategy_id=uuid.uuid4()))
    with db.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(BacktestResult)) == 0


def test_cancel_stops_the_run_and_stores_nothing(db, store, user):
    cancel = threading.Event()
    timer = threading.Timer(0.8, cancel.set)
    timer.start()
    request = BacktestRequest(user, "ACME", "1Min", START, END, source=SPINS, limits=SandboxLimits(30, 512))
    with pytest.raises(BacktestCancelled):
        run_and_store(db.session_factory, store, request, cancel)
    with db.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(BacktestResult)) == 0


def test_a_run_given_a_cancel_event_that_is_never_set_finishes(db, store, user, saved):
    """The panel always passes an event; 1,500 bars (a payload larger than a pipe buffer) must still be fed
    to the strategy host in full, not stall until the wall clock."""
    request = request_for(user, saved, limits=SandboxLimits(10, 1024))
    run = run_and_store(db.session_factory, store, request, threading.Event())
    assert run.bar_count == 1_500 and run.display.metrics["bar_count"] == 1_500


def test_history_is_newest_first_filtered_and_private(db, store, accounts, user, saved):
    first = run_and_store(db.session_factory, store, request_for(user, saved)).result_id
    second = run_and_store(db.session_factory, store, request_for(user, saved, params={"fast": 8})).result_id
    other_strategy = run_and_store(db.session_factory, store, BacktestRequest(
        user, "ACME", "1Min", START, END, source=CROSS)).result_id  # fmt: skip
    other_user = accounts.sign_up("bob@example.com", "bob", STRONG_PASSWORD).id

    summaries = past_results(db.session_factory, user)
    assert [r.id for r in summaries] == [other_strategy, second, first]
    assert [r.id for r in past_results(db.session_factory, user, strategy_id=saved.id)] == [second, first]
    assert len(past_results(db.session_factory, user, limit=1)) == 1
    assert past_results(db.session_factory, other_user) == []
    top = summaries[1]
    with db.session_factory() as s:
        row = s.get(BacktestResult, second)
        assert (top.total_return, top.trade_count) == (row.metrics["total_return"], row.metrics["trade_count"])
        assert top.symbols == ("ACME",) and top.timeframe == "1Min" and top.status == "completed"

    shown = load_for_display(db.session_factory, user, second)
    with db.session_factory() as s:
        row = s.get(BacktestResult, second)
        assert shown.metrics == row.metrics and shown.trades == row.trades
        assert np.array_equal(shown.times, [p[0] for p in row.equity_curve])
        assert np.array_equal(shown.equity, [p[1] for p in row.equity_curve])
    assert shown.drawdown.max() <= 0 and shown.parameters == {"fast": 8, "slow": 30}
    with pytest.raises(ResultNotFound):
        load_for_display(db.session_factory, other_user, second)
    with pytest.raises(ResultNotFound):
        load_for_display(db.session_factory, user, uuid.uuid4())
