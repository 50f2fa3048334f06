"""Single backtests as the Backtest panel uses them: run one and store it, list past results, open one.

``core.backtest.service`` does the work; this service holds the database and the way to open a bar store, so the
panel passes a ``Backtests`` and never the session factory. A run opens its own ``BarStore`` on the calling
(worker) thread and closes it after, because a store holds its own connections.

Every method blocks (PostgreSQL; a run also the sandbox, for seconds to minutes), so the GUI calls them on a
worker thread. Failures raise ``BacktestError`` with a message written for the trader (``BacktestCancelled``
when the run's ``cancel`` event was set), as ``core.backtest.service`` does.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from core.backtest.service import (
    BacktestRequest,
    ResultDisplay,
    ResultSummary,
    StoredRun,
    load_for_display,
    past_results,
    run_and_store,
)
from core.market.store import BarStore
from core.strategy.library import SavedStrategy, list_strategies

StoreFactory = Callable[[], BarStore]


class Backtests:
    """One database's backtests; ``store_factory`` opens the bar store a run reads from."""

    def __init__(self, sessions: sessionmaker[Session], store_factory: StoreFactory) -> None:
        self._sessions = sessions
        self._store_factory = store_factory

    def strategies(self, user_id: uuid.UUID) -> list[SavedStrategy]:
        """The saved strategies a backtest can run."""
        return list_strategies(self._sessions, user_id)

    def past_results(self, user_id: uuid.UUID, limit: int = 50) -> list[ResultSummary]:
        """The trader's results, newest first (summaries only: curves and trades stay in the database)."""
        return past_results(self._sessions, user_id, limit=limit)

    def result(self, user_id: uuid.UUID, result_id: uuid.UUID) -> ResultDisplay:
        """A stored result with its curves and trades; ResultNotFound when it is not the trader's."""
        return load_for_display(self._sessions, user_id, result_id)

    def run(self, request: BacktestRequest, cancel: threading.Event | None = None) -> StoredRun:
        """Run ``request`` over stored bars and store the result (a failed run is stored too, its id on the
        BacktestError). The bar store lives and dies on this thread."""
        store = self._store_factory()
        try:
            return run_and_store(self._sessions, store, request, cancel)
        finally:
            store.close()
