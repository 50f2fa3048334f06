"""One running session: a thread that turns closed bars into decisions and decisions into orders.

Bars arrive through :meth:`PaperSessionWorker.offer` from the live-bar thread, which must never wait: they go into
an unbounded queue. The worker takes everything queued at once and decides every symbol with a new closed bar in one
round trip to the session's warm strategy (``decider.py``: one confined host for a trader's source, about a
millisecond a bar). When the strategy is slower than the feed, the bars all join the window and reach the strategy
(its state and indicators see every bar), but only the newest bar of each symbol is traded on, so the session
catches up instead of trading on stale bars (the skipped decisions are counted in ``state_metadata.skipped``).

A failure ends the thread and is reported to the manager, which marks the session FAILED; nothing a strategy
does can take the thread's caller (the feed, the app) with it.
"""

from __future__ import annotations

import collections
import logging
import math
import queue
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from core.domain.bars import BarArrays, NormalizedBar, timeframe_delta
from core.domain.timeframes import Timeframe
from core.ledger.service import Ledger
from core.market.calendar import NEW_YORK
from core.paper import records
from core.paper.bars import BarWindow, BucketFolder, ClosedBar
from core.paper.decider import Decider
from core.paper.execution import PaperSessionContext, SignalExecutor
from core.paper.history import HistoryLoader
from core.strategy.api import StrategyError
from core.strategy.sandbox import StrategyCancelled, StrategyRunError

log = logging.getLogger(__name__)

_MINUTE = Timeframe.MIN_1
_STOP = object()
_COLUMNS = ("time", "open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class WorkerConfig:
    window_bars: int = 1000  # bars of history each decision sees
    heartbeat_s: float = 60.0  # the row is touched at least this often while running (orphan detection)


@dataclass(frozen=True)
class Failure:
    message: str  # one line for the trader, naming the strategy line when there is one
    details: str = ""  # the strategy's trace and printed output, or the internal traceback


@dataclass
class WorkerHooks:
    """Called on the worker's thread."""

    progress: Callable[[PaperSessionWorker], None]
    ended: Callable[[PaperSessionWorker, Failure | None], None]


class PaperSessionWorker:
    def __init__(
        self,
        *,
        factory: sessionmaker[Session],
        context: PaperSessionContext,
        symbols: Sequence[str],
        timeframe: str,
        decider: Decider,
        executor: SignalExecutor,
        ledger: Ledger,
        history: HistoryLoader,
        config: WorkerConfig,
        clock: Callable[[], datetime],
        hooks: WorkerHooks,
        initial_capital: Decimal | None,
    ) -> None:
        self.context = context
        self.session_id = context.session_id
        self.symbols = tuple(symbols)
        self.timeframe = timeframe
        self.executor = executor
        self._factory = factory
        self._decider = decider
        self._ledger = ledger
        self._history = history
        self._config = config
        self._now = clock
        self._hooks = hooks
        self._step = timeframe_delta(timeframe)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending = 0
        self._idle = threading.Condition()
        self._stopping = threading.Event()
        self._cancel = threading.Event()  # kills the strategy host if it is deciding when the session stops
        self._windows = {s: BarWindow(s, config.window_bars) for s in self.symbols}
        self._fed: dict[str, float] = {}  # per symbol: the open time of the last bar the strategy was given
        self._offered_at: dict[str, float] = {}  # per symbol: when its latest bar was offered (perf_counter)
        # Bar offered -> intents back, per symbol decided: the figure bench.sessions reports (the latest ones kept)
        self.decision_seconds: collections.deque[float] = collections.deque(maxlen=100_000)
        self._folders = {s: BucketFolder(timeframe) for s in self.symbols}
        self._thread = threading.Thread(target=self._run, name=f"session-{context.session_id.hex[:8]}", daemon=True)
        self.bars_decided = 0
        self.skipped = 0
        self.last_bar_at: datetime | None = None
        self.last_close: dict[str, float] = {}
        self._initial_capital = initial_capital
        self._snapshot_day: date | None = None

    # ----- any thread -----
    def start(self) -> None:
        self._thread.start()

    def offer(self, bar: NormalizedBar) -> None:
        """Queue a live bar (never blocks)."""
        if bar.timeframe != _MINUTE and bar.timeframe != self.timeframe:
            return
        with self._idle:
            self._pending += 1
        self._queue.put((time.perf_counter(), bar))

    def request_stop(self) -> None:
        self._stopping.set()
        self._cancel.set()
        self._queue.put(_STOP)

    def join(self, timeout: float) -> bool:
        if self._thread is threading.current_thread() or self._thread.ident is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def wait_idle(self, timeout: float) -> bool:
        """True once every bar offered so far has been handled (or the worker has ended)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0 or not self._thread.is_alive(), timeout)

    # ----- the worker thread -----
    def _run(self) -> None:
        failure: Failure | None = None
        try:
            self._load_history()
            while not self._stopping.is_set():
                try:
                    first = self._queue.get(timeout=self._config.heartbeat_s)
                except queue.Empty:
                    self._bookkeeping(lambda: records.touch(self._factory, self.session_id,
                                                            {"heartbeat_at": self._now().isoformat()},
                                                            user_id=self.context.user_id))  # fmt: skip
                    continue
                batch = [first]
                while True:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                self._handle([b for b in batch if b is not _STOP])  # (offered at, bar) pairs
                with self._idle:  # on an exception the bars count as handled only once the session has ended
                    self._pending -= sum(1 for b in batch if b is not _STOP)
                    self._idle.notify_all()
        except StrategyCancelled:
            if not self._stopping.is_set():
                failure = Failure("the strategy's run was cancelled")
        except StrategyError as exc:
            if not self._stopping.is_set():
                failure = Failure(str(exc), _strategy_details(exc))
        except Exception as exc:
            log.exception("session %s failed", self.session_id)
            failure = Failure(f"The session stopped on an internal error: {type(exc).__name__}: {exc}",
                              traceback.format_exc())  # fmt: skip
        finally:
            try:
                self._decider.close()  # the session's host: its process ends with the session
                self._hooks.ended(self, failure)
            finally:
                with self._idle:
                    self._pending = 0
                    self._idle.notify_all()

    def _load_history(self) -> None:
        until = self._now()
        for symbol, window in self._windows.items():
            arrays = self._history(symbol, self.timeframe, self._config.window_bars, until)
            window.replace_with(arrays)
            if len(window) and window.last_time is not None:
                last_end = window.last_time + self._step.total_seconds()
                if last_end > until.timestamp():  # a bucket still forming: its minutes will arrive live
                    window.replace_with(_without_last(arrays))
        book = self.executor.book()
        accounts = {symbol: book.strategy_account(symbol) for symbol in self.symbols}
        self._decider.open({s: w.data() for s, w in self._windows.items()}, accounts, self._cancel)
        self._fed = {s: w.last_time if w.last_time is not None else -math.inf for s, w in self._windows.items()}

    def _handle(self, offered: list[tuple[float, NormalizedBar]]) -> None:
        if not offered:
            return
        decide_on: dict[str, ClosedBar] = {}
        for at, bar in offered:
            self._offered_at[bar.symbol] = at
            window = self._windows.get(bar.symbol)
            if window is None:
                continue
            closed = [bar] if bar.timeframe == self.timeframe else self._folders[bar.symbol].add(bar)
            for done in closed:
                if self._take(window, done):
                    if bar.symbol in decide_on:
                        self.skipped += 1
                    decide_on[bar.symbol] = window.last()
        if decide_on and not self._stopping.is_set():
            self._decide(decide_on)
        if decide_on:
            self.last_bar_at = max(b.time for b in decide_on.values())
            self._after_bars()

    def _take(self, window: BarWindow, bar: NormalizedBar) -> bool:
        """Add a closed bar to the window; True when it is new (a decision is due)."""
        if self.timeframe != _MINUTE:
            # The stored history is the reference for a coarse bar (it has every minute, including those before
            # the session started); the folded bar stands in only when the store does not have it.
            arrays = self._history(bar.symbol, self.timeframe, self._config.window_bars, bar.end)
            opened = bar.timestamp.timestamp()
            if len(arrays) and float(arrays.t[-1]) == opened:
                before = window.last_time
                window.replace_with(arrays)
                return before is None or before < opened
        return window.add(ClosedBar.of(bar))

    def _decide(self, decide_on: dict[str, ClosedBar]) -> None:
        """Every symbol with a new closed bar, decided in one round trip to the strategy, which sees the session's
        own book (its capital, cash and shares), never the trader's account: shares bought by hand or by another
        session are not its to sell. Each symbol's intents are then executed against the book as it stands after
        the symbols before it traded."""
        book = self.executor.book()
        bars = {symbol: self._new_bars(symbol) for symbol in decide_on}
        accounts = {symbol: book.strategy_account(symbol) for symbol in decide_on}
        decisions = self._decider.decide(bars, accounts, self._cancel)
        answered = time.perf_counter()
        self.decision_seconds.extend(answered - self._offered_at.get(symbol, answered) for symbol in decide_on)
        for symbol, bar in decide_on.items():
            self._fed[symbol] = bar.time.timestamp()
            self.bars_decided += 1
            self.last_close[symbol] = bar.close
            decision = decisions.get(symbol)
            if decision is not None and decision.intents and not self._stopping.is_set():
                self.executor.execute(bar, decision.intents, self.executor.book())

    def _new_bars(self, symbol: str) -> list[list[float]]:
        """The window's bars the strategy has not been given yet (normally one), as plain rows."""
        data = self._windows[symbol].data()
        times = np.asarray(data.time, dtype=np.float64)
        start = int(np.searchsorted(times, self._fed[symbol], side="right"))
        columns = [np.asarray(getattr(data, k), dtype=np.float64)[start:] for k in _COLUMNS]
        return [list(map(float, row)) for row in zip(*columns, strict=True)]

    def _after_bars(self) -> None:
        assert self.last_bar_at is not None
        meta = {
            "heartbeat_at": self._now().isoformat(),
            "last_bar_at": self.last_bar_at.isoformat(),
            "bars_decided": self.bars_decided,
            "skipped": self.skipped,
        }
        self._bookkeeping(lambda: records.touch(self._factory, self.session_id, meta, user_id=self.context.user_id))
        day = self.last_bar_at.astimezone(NEW_YORK).date()
        if day != self._snapshot_day:
            self._bookkeeping(lambda: self.snapshot(day))
        self._hooks.progress(self)

    def _bookkeeping(self, write: Callable[[], None]) -> None:
        """A heartbeat or snapshot that fails (the database blinked) is logged, not fatal: the next bar retries;
        trading itself fails the session if the database stays away (the ledger cannot place orders)."""
        try:
            write()
        except Exception:
            log.warning("session %s: bookkeeping write failed", self.session_id, exc_info=True)

    def snapshot(self, day: date) -> None:
        """Record the session's own equity and holdings (its book) for New York ``day``, and its current capital."""
        book = self.executor.book()
        records.save_snapshot(self._factory, self.session_id, day, book.equity, records.holdings_of(book),
                              self._initial_capital, user_id=self.context.user_id)  # fmt: skip
        self._snapshot_day = day


def _without_last(arrays: BarArrays) -> BarArrays:
    return BarArrays(*(column[:-1] for column in arrays.columns()))


def _strategy_details(exc: StrategyError) -> str:
    lines = [f"{type(exc).__name__}: {exc}"]
    if isinstance(exc, StrategyRunError):
        if exc.trace:
            lines += ["", "strategy trace (outermost first):"] + [f"  line {n} in {fn}" for n, fn in exc.trace]
        if exc.output:
            lines += ["", "the strategy printed:", exc.output.rstrip()]
    return "\n".join(lines)
