"""PaperSessionManager: start, watch and stop paper sessions; the one object the app wires to the live feed.

* ``start`` checks the strategy and parameters, decides the session's capital (``core.paper.capital``: the one
  asked for, or the trader's buying power no running session holds), inserts the ``trading_sessions`` row
  (PAPER, RUNNING, ``initial_capital``; the database's partial unique index refuses a second active session of
  the same strategy), starts the session's worker thread and asks the market for its symbols (owner
  ``session:<id>``). The session then trades its own book (``core.paper.book``), inside the trader's account.
* ``on_bar`` is called on the live-bar thread and only queues: a slow strategy never delays the feed.
* ``stop`` ends the thread (its strategy host is killed), cancels the session's working orders (never
  bracket legs protecting a position), records its book's final P&L, equity and a snapshot, and marks
  the row STOPPED. A strategy that fails marks it FAILED with the message (naming the strategy line) instead.
* Orphans: a session left RUNNING by an app that closed or crashed is marked STOPPED by ``stop_orphans`` at
  start-up, with the reason in ``state_metadata.stop_reason``. It is not restarted: the bars it missed were
  never decided on, and a strategy should trade the trader's money only after the trader pressed Start. A
  session another running copy of the app owns stays untouched: its worker touches the row at least every
  minute, and only rows untouched for ``PaperSessionConfig.orphan_after`` count as orphans.

Listeners receive plain events (``core.paper.types``) on whichever thread produced them: the worker's, or
the caller's for start/stop. Qt code must marshal them to the GUI thread.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from core.domain.bars import TIMEFRAMES, NormalizedBar
from core.domain.clock import utc_now
from core.domain.symbols import is_valid_symbol, normalize_symbol
from core.domain.timeframes import Timeframe
from core.ledger.service import Ledger
from core.ledger.views import OrderDesk
from core.market.calendar import NEW_YORK
from core.paper import records
from core.paper.book import PriceOf, load_books
from core.paper.capital import session_capital
from core.paper.decider import Decider, DecisionLimits
from core.paper.execution import PaperSessionContext, SignalExecutor
from core.paper.history import HistoryLoader
from core.paper.resolve import resolve
from core.paper.types import (
    ACTIVE_STATUSES,
    FAILED,
    STOPPED,
    PaperSessionChanged,
    PaperSessionError,
    PaperSessionEvent,
    PaperSessionFailed,
    PaperSessionInfo,
    SignalInfo,
    SignalRecorded,
)
from core.paper.worker import Failure, PaperSessionWorker, WorkerConfig, WorkerHooks
from core.strategy.api import Strategy

log = logging.getLogger(__name__)

MAX_SYMBOLS = 20
STOPPED_BY_TRADER = "Stopped by the trader."
STOPPED_AT_EXIT = "Stopped when the app closed."
ORPHANED = (
    "The app closed or crashed while this session was running, so it missed bars; it was stopped rather than "
    "restarted so that it never trades without you pressing Start. Start it again to resume."
)
SessionInfos = list[PaperSessionInfo]
SignalInfos = list[SignalInfo]
SessionIds = list[uuid.UUID]
SessionRows = list[records.PaperSessionRow]
Listener = Callable[[PaperSessionEvent], None]


class MarketSubscriptions(Protocol):
    """Which symbols the live feed must stream; thread-safe (``core.live.workstation.Workstation`` is one)."""

    def want(self, owner: str, symbols: Iterable[str]) -> None: ...

    def release(self, owner: str) -> None: ...


@dataclass(frozen=True)
class PaperSessionConfig:
    window_bars: int = 1000  # bars of history each decision sees (500-2000 cost the same: see decider.py)
    cpu_seconds: float = 5.0  # CPU budget of one sandboxed decision
    memory_mb: int = 1024
    heartbeat_s: float = 60.0
    stop_timeout_s: float = 10.0
    orphan_after: timedelta = timedelta(minutes=5)
    fractional: bool = False  # whole shares, as backtests trade by default


def owner_of(session_id: uuid.UUID) -> str:
    """The market-subscription owner name of a session."""
    return f"session:{session_id}"


class PaperSessionManager:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        ledger: Ledger,
        history: HistoryLoader,
        subscriptions: MarketSubscriptions,
        *,
        config: PaperSessionConfig | None = None,
        clock: Callable[[], datetime] = utc_now,
        orders: OrderDesk | None = None,
    ) -> None:
        self._factory = session_factory
        self._ledger = ledger
        self._orders = orders  # where the sessions' orders go (None: the ledger itself)
        self._history = history
        self._subscriptions = subscriptions
        self._config = config or PaperSessionConfig()
        self._now = clock
        self._lock = threading.Lock()
        self._workers: dict[uuid.UUID, PaperSessionWorker] = {}
        self._routes: dict[str, tuple[PaperSessionWorker, ...]] = {}
        self._listeners: list[Listener] = []
        self._closed = False

    # ----- listeners -----
    def add_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _emit(self, event: PaperSessionEvent) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.exception("session listener failed")

    # ----- live bars (the live-bar thread) -----
    def on_bar(self, bar: NormalizedBar) -> None:
        """Hand a live bar to every session trading its symbol; returns at once."""
        for worker in self._routes.get(bar.symbol, ()):
            worker.offer(bar)

    # ----- commands (any thread but the GUI's: they touch the database) -----
    def start(
        self,
        user_id: uuid.UUID,
        strategy_id: uuid.UUID,
        symbols: Iterable[str],
        timeframe: str = Timeframe.MIN_1,
        params: dict[str, Any] | None = None,
        *,
        class_name: str | None = None,
        builtin: type[Strategy] | None = None,
        capital: Decimal | None = None,
    ) -> PaperSessionInfo:
        """Start the user's saved strategy as a PAPER session on ``symbols``. ``builtin``: run that trusted class
        in-process instead of the saved code (the session is still recorded against ``strategy_id``).
        ``capital``: the money its book starts with (default: see ``core.paper.capital``).
        Raises PaperSessionError with a message for the trader."""
        if self._closed:
            raise PaperSessionError("Sessions are shutting down.")
        wanted = _symbols(symbols)
        if timeframe not in TIMEFRAMES:
            raise PaperSessionError(f"Unknown timeframe {timeframe!r} (choose from {', '.join(TIMEFRAMES)}).")
        limits = DecisionLimits(self._config.cpu_seconds, self._config.memory_mb)
        chosen = resolve(self._factory, user_id, strategy_id, params=params, class_name=class_name,
                         builtin=builtin, limits=limits)  # fmt: skip
        running = records.active_session(self._factory, user_id, chosen.strategy_id)
        busy = f"{chosen.strategy_name} is already running as a paper session"
        if running is not None:
            raise PaperSessionError(f"{busy} (since {running.started_at:%Y-%m-%d %H:%M} UTC); stop it first.")
        running_books = load_books(self._factory, user_id, self._ledger.last_price,
                                   records.active_ids(self._factory, user_id)).values()  # fmt: skip
        initial = session_capital(capital, self._ledger.portfolio(user_id).buying_power, running_books)
        metadata = {
            "class_name": chosen.class_name, "runner": chosen.runner, "builtin": chosen.builtin,
            "window_bars": self._config.window_bars,
        }  # fmt: skip
        session_id = records.insert_session(
            self._factory, user_id=user_id, strategy_id=chosen.strategy_id, strategy_version_id=chosen.version_id,
            symbols=wanted, timeframe=timeframe, parameters=chosen.params, initial_capital=initial,
            metadata=metadata, now=self._now(), already_running=f"{busy}; stop it first.",
        )  # fmt: skip
        context = PaperSessionContext(session_id, user_id, chosen.strategy_id, chosen.class_name)
        try:
            worker = self._make_worker(context, wanted, timeframe, chosen.make_decider(), initial)
            with self._lock:
                self._workers[session_id] = worker
                self._route()
            worker.start()
            self._subscriptions.want(owner_of(session_id), wanted)
        except Exception as exc:
            log.exception("session %s could not start", session_id)
            self._drop(session_id)
            message = f"The session could not start: {type(exc).__name__}: {exc}"
            records.finish(self._factory, session_id, FAILED, now=self._now(), error=message, user_id=user_id)
            raise PaperSessionError(message) from exc
        info = self.get(session_id, user_id)
        self._emit(PaperSessionChanged(info))
        return info

    def stop(self, session_id: uuid.UUID, user_id: uuid.UUID, reason: str = STOPPED_BY_TRADER) -> PaperSessionInfo:
        """Stop a session of the user's (an ended one is returned as it is)."""
        info = self.get(session_id, user_id)
        if not info.active:
            return info
        with self._lock:
            worker = self._workers.get(session_id)
        if worker is not None:
            worker.request_stop()
            if not worker.join(self._config.stop_timeout_s):
                log.warning("session %s did not stop within %s s", session_id, self._config.stop_timeout_s)
        self._drop(session_id)
        self._close(info, STOPPED, stop_reason=reason, worker=worker)
        info = self.get(session_id, user_id)
        self._emit(PaperSessionChanged(info))
        return info

    def list(self, user_id: uuid.UUID) -> SessionInfos:
        """The user's paper sessions, newest first."""
        as_of = time.monotonic()
        return self._infos(user_id, records.session_rows(self._factory, user_id), as_of)

    def get(self, session_id: uuid.UUID, user_id: uuid.UUID) -> PaperSessionInfo:
        as_of = time.monotonic()
        rows = records.session_rows(self._factory, user_id, session_id)
        if not rows:
            raise PaperSessionError("No such session.")
        return self._infos(user_id, rows, as_of)[0]

    def signals(self, session_id: uuid.UUID, user_id: uuid.UUID, limit: int = 100) -> SignalInfos:
        """The session's most recent signals, newest first."""
        return records.signals_of(self._factory, session_id, user_id, limit)

    def stop_orphans(self, user_id: uuid.UUID) -> SessionInfos:
        """Mark the user's sessions that no running app serves any more STOPPED (see the module docstring)."""
        with self._lock:
            mine = list(self._workers)
        stopped = []
        for session_id in records.stale_active(self._factory, user_id, mine, self._config.orphan_after):
            info = self.get(session_id, user_id)
            self._close(info, STOPPED, stop_reason=ORPHANED, worker=None)
            info = self.get(session_id, user_id)
            stopped.append(info)
            self._emit(PaperSessionChanged(info))
        return stopped

    @property
    def running(self) -> SessionIds:
        """Ids of the sessions this manager's threads are running."""
        with self._lock:
            return list(self._workers)

    def decision_seconds(self) -> tuple[float, ...]:
        """Bar offered -> intents back, for every decision the running sessions have made (their latest 100,000
        each): what ``bench.sessions`` reports as decision latency."""
        with self._lock:
            workers = list(self._workers.values())
        return tuple(seconds for w in workers for seconds in tuple(w.decision_seconds))

    def forget_decision_seconds(self) -> None:
        """Drop the decision times recorded so far (a benchmark measures from a warm start: the first bar waits for
        the session to load its history and start its strategy)."""
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            worker.decision_seconds.clear()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """True once every bar offered so far has been handled by every session (tests, orderly shutdown)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            workers = list(self._workers.values())
        return all(w.wait_idle(max(0.0, deadline - time.monotonic())) for w in workers)

    def shutdown(self) -> None:
        """Stop every session this manager runs (STOPPED, with the reason) and refuse new ones."""
        self._closed = True
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            worker.request_stop()
        for worker in workers:
            try:
                self.stop(worker.session_id, worker.context.user_id, STOPPED_AT_EXIT)
            except Exception:
                log.exception("session %s did not stop cleanly", worker.session_id)

    # ----- internals -----
    def _make_worker(
        self,
        context: PaperSessionContext,
        symbols: Sequence[str],
        timeframe: str,
        decider: Decider,
        initial: Decimal | None,
    ) -> PaperSessionWorker:
        def on_signal(signal: SignalInfo) -> None:
            self._emit(SignalRecorded(signal))

        executor = SignalExecutor(self._factory, self._ledger, context, clock=self._now, on_signal=on_signal,
                                  fractional=self._config.fractional, orders=self._orders)  # fmt: skip
        hooks = WorkerHooks(progress=self._progress, ended=self._ended)
        config = WorkerConfig(self._config.window_bars, self._config.heartbeat_s)
        return PaperSessionWorker(
            factory=self._factory, context=context, symbols=symbols, timeframe=timeframe, decider=decider,
            executor=executor, ledger=self._ledger, history=self._history, config=config, clock=self._now,
            hooks=hooks, initial_capital=initial,
        )  # fmt: skip

    def _route(self) -> None:
        """Rebuild the symbol -> workers map (under the lock); ``on_bar`` reads it without locking."""
        routes: dict[str, list[PaperSessionWorker]] = {}
        for worker in self._workers.values():
            for symbol in worker.symbols:
                routes.setdefault(symbol, []).append(worker)
        self._routes = {symbol: tuple(ws) for symbol, ws in routes.items()}

    def _drop(self, session_id: uuid.UUID) -> None:
        with self._lock:
            dropped = self._workers.pop(session_id, None) is not None
            self._route()
        if dropped:
            try:
                self._subscriptions.release(owner_of(session_id))
            except Exception:
                log.exception("could not release the symbols of session %s", session_id)

    def _progress(self, worker: PaperSessionWorker) -> None:
        try:
            self._emit(PaperSessionChanged(self.get(worker.session_id, worker.context.user_id)))
        except Exception:
            log.exception("could not report the progress of session %s", worker.session_id)

    def _ended(self, worker: PaperSessionWorker, failure: Failure | None) -> None:
        """The worker thread is ending: a failure closes the session here; a stop is closed by ``stop``."""
        if failure is None:
            return
        self._drop(worker.session_id)
        try:
            info = self.get(worker.session_id, worker.context.user_id)
            self._close(info, FAILED, error=failure.message, details=failure.details, worker=worker)
            self._emit(PaperSessionFailed(self.get(worker.session_id, worker.context.user_id)))
        except Exception:
            log.exception("could not record the failure of session %s", worker.session_id)
            records.finish(self._factory, worker.session_id, FAILED, now=self._now(), error=failure.message,
                           user_id=worker.context.user_id)  # fmt: skip

    def _close(
        self, info: PaperSessionInfo, status: str, *, worker: PaperSessionWorker | None, error: str | None = None,
        details: str | None = None, stop_reason: str | None = None,
    ) -> None:  # fmt: skip
        """Cancel the session's working orders, then record its final P&L, equity and snapshot, and end it."""
        context = PaperSessionContext(info.id, info.user_id, info.strategy_id, info.class_name)
        executor = worker.executor if worker is not None else SignalExecutor(
            self._factory, self._ledger, context, clock=self._now, on_signal=lambda _s: None, orders=self._orders
        )  # fmt: skip
        try:
            executor.cancel_open()
        except Exception:
            log.exception("could not cancel the working orders of session %s", info.id)
        pnl: Decimal | None = None
        equity: Decimal | None = None
        try:
            book = load_books(self._factory, info.user_id, self._price_of(worker), [info.id]).get(info.id)
            if book is not None:
                pnl, equity = book.pnl, book.equity
                last = worker.last_bar_at if worker is not None and worker.last_bar_at else self._now()
                records.save_snapshot(self._factory, info.id, _ny_date(last), equity, records.holdings_of(book),
                                      info.initial_capital, user_id=info.user_id)  # fmt: skip
        except Exception:
            log.exception("could not value session %s", info.id)
        records.finish(
            self._factory, info.id, status, now=self._now(), error=error, stop_reason=stop_reason, details=details,
            final_pnl=pnl, current_capital=equity, user_id=info.user_id,
        )  # fmt: skip

    def _price_of(self, *workers: PaperSessionWorker | None) -> PriceOf:
        """The ledger's last price, else the last close a session's worker saw (None: valued at cost)."""
        closes: dict[str, Decimal] = {}
        for worker in workers:
            if worker is not None:
                for symbol, close in list(worker.last_close.items()):
                    closes.setdefault(symbol, Decimal(repr(close)))

        def price_of(symbol: str) -> Decimal | None:
            last = self._ledger.last_price(symbol)
            return last if last is not None else closes.get(symbol)

        return price_of

    def _infos(self, user_id: uuid.UUID, rows: SessionRows, as_of: float) -> SessionInfos:
        active = [r.row.id for r in rows if r.row.status in ACTIVE_STATUSES]
        with self._lock:
            workers = [self._workers[i] for i in active if i in self._workers]
        books = load_books(self._factory, user_id, self._price_of(*workers), active) if active else {}
        out = []
        for r in rows:
            row = r.row
            meta = dict(row.state_metadata or {})
            active_now = row.status in ACTIVE_STATUSES
            book = books.get(row.id)
            pnl = (book.pnl if book is not None else None) if active_now else row.final_pnl
            last_bar = meta.get("last_bar_at")
            out.append(PaperSessionInfo(
                id=row.id, user_id=row.user_id, strategy_id=row.strategy_id, strategy_name=r.strategy_name,
                strategy_version_id=row.strategy_version_id, class_name=str(meta.get("class_name", "")),
                mode=row.mode, status=row.status, symbols=tuple(row.symbols), timeframe=row.timeframe or "",
                parameters=dict(row.parameters or {}), initial_capital=row.initial_capital,
                current_capital=row.current_capital, started_at=row.started_at, ended_at=row.ended_at, pnl=pnl,
                error_message=row.error_message, stop_reason=meta.get("stop_reason"), signal_count=r.signal_count,
                last_bar_at=datetime.fromisoformat(last_bar) if isinstance(last_bar, str) else None,
                details=str(meta.get("error_details", "")), as_of=as_of,
            ))  # fmt: skip
        return out


def _symbols(symbols: Iterable[str]) -> list[str]:
    out: list[str] = []
    for raw in symbols:
        symbol = normalize_symbol(raw)
        if not symbol:
            continue
        if not is_valid_symbol(symbol):
            raise PaperSessionError(f"{raw.strip()!r} is not a valid symbol.")
        if symbol not in out:
            out.append(symbol)
    if not out:
        raise PaperSessionError("Enter at least one symbol.")
    if len(out) > MAX_SYMBOLS:
        raise PaperSessionError(f"A session trades at most {MAX_SYMBOLS} symbols.")
    return out


def _ny_date(when: datetime) -> date:
    return when.astimezone(NEW_YORK).date()
