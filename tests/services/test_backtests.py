"""The Backtests service: a run over stored bars is stored and listed for its trader, opened again, and the bar
store it opened is closed after, whatever happened."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from core.backtest.service import BacktestError, BacktestRequest, ResultNotFound
from core.market.store import BarStore
from core.services.backtests import Backtests
from core.strategy.library import StrategyDraft, save_strategy
from tests.backtest.test_sandboxed_backtest import CROSS
from tests.market.test_store import minutes

T0 = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)


class CountingStores:
    """Opens real bar stores and counts the ones still open."""

    def __init__(self, db) -> None:
        self._db = db
        self.open = 0

    def __call__(self) -> BarStore:
        store = BarStore(self._db.engine)
        close = store.close

        def counted_close() -> None:
            self.open -= 1
            close()

        store.close = counted_close  # type: ignore[method-assign]
        self.open += 1
        return store


@pytest.fixture
def stores(db) -> CountingStores:
    store = BarStore(db.engine)
    store.insert("ACME", "1Min", minutes(1_500, start=T0, seed=4), source="csv_import")
    store.close()
    return CountingStores(db)


def request(user: uuid.UUID, strategy_id: uuid.UUID, **changes) -> BacktestRequest:
    values = {
        "user_id": user, "strategy_id": strategy_id, "symbol": "ACME", "timeframe": "1Min",
        "start": datetime(2025, 3, 3, tzinfo=UTC), "end": datetime(2025, 3, 7, tzinfo=UTC), "params": {},
    }  # fmt: skip
    return BacktestRequest(**(values | changes))


def test_a_run_is_stored_listed_and_opened_for_its_trader_only(sessions, stores, make_user):
    ada, bob = make_user("ada"), make_user("bob")
    backtests = Backtests(sessions, stores)
    cross = save_strategy(sessions, ada, StrategyDraft("Cross", CROSS))
    assert [s.id for s in backtests.strategies(ada)] == [cross.id] and backtests.strategies(bob) == []

    run = backtests.run(request(ada, cross.id))
    assert run.bar_count > 0 and stores.open == 0
    [listed] = backtests.past_results(ada)
    assert listed.id == run.result_id and backtests.past_results(bob) == []
    assert backtests.result(ada, run.result_id).metrics == run.display.metrics
    with pytest.raises(ResultNotFound):
        backtests.result(bob, run.result_id)


def test_a_refused_request_is_not_stored_and_its_store_is_closed(sessions, stores, make_user):
    cyd = make_user("cyd")
    backtests = Backtests(sessions, stores)
    cross = save_strategy(sessions, cyd, StrategyDraft("Cross", CROSS))
    with pytest.raises(BacktestError, match="end date must be after the start date"):
        backtests.run(request(cyd, cross.id, end=datetime(2025, 3, 1, tzinfo=UTC)))
    assert stores.open == 0 and backtests.past_results(cyd) == []
