"""Keeps the chart on one symbol and timeframe: loads its history off the GUI thread, then folds live minutes in.

Markers follow the symbol: the trader's own fills, the signals of their paper sessions, and the trades of a
backtest asked to be shown are kept here for every symbol, and the chart gets those of the symbol it shows.

Opening a symbol subscribes it for the chart (the simulated market prepares its history on the way), reads the
bars (stored, aggregated or fetched: core.market.chart_bars) on a worker thread, and shows them. Loads are
numbered: a slow load that finishes after the trader already switched again is dropped, never shown. Live bars
that arrive while a load is out are kept and applied after it, so no minute is missed between the two.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.async_runner import BlockingRunner
from app.views.chart_markers import ChartMarker
from app.views.chart_view import ChartView
from core.db.trouble import trader_message
from core.domain.bars import NormalizedBar
from core.domain.symbols import normalize_symbol
from core.domain.timeframes import Timeframe
from core.ledger.history import FillRow
from core.live.workstation import Workstation
from core.market.chart_bars import FormingBar, chart_bars
from core.paper.types import SignalInfo

log = logging.getLogger(__name__)

OWNER = "chart"
VISIBLE_BARS = 200
SIGNALS_KEPT = 2_000  # the newest signals marked (a session on 1-minute bars makes a few hundred a day at most)


def fill_marker(fill: FillRow) -> ChartMarker:
    return ChartMarker(fill.executed_at, float(fill.price), fill.side.lower(), "fill",
                       f"{fill.qty.normalize():f} {fill.symbol}")  # fmt: skip


def signal_marker(signal: SignalInfo) -> ChartMarker | None:
    """A signal is marked at the close its strategy decided on; one without a price cannot be placed."""
    if signal.price is None:
        return None
    at = signal.bar_timestamp or signal.generated_at
    return ChartMarker(at, float(signal.price), signal.action.lower(), "signal", f"signal {signal.status.lower()}")


def backtest_markers(trades: Iterable[dict[str, Any]]) -> list[ChartMarker]:
    """Entries and exits of a backtest's round trips (long only: an entry buys, an exit sells)."""
    markers = []
    for trade in trades:
        entry = datetime.fromtimestamp(float(trade["entry_time"]), UTC)
        leave = datetime.fromtimestamp(float(trade["exit_time"]), UTC)
        markers.append(ChartMarker(entry, float(trade["entry_price"]), "buy", "signal", "backtest entry"))
        markers.append(ChartMarker(leave, float(trade["exit_price"]), "sell", "signal",
                                   f"backtest exit ({trade.get('exit_reason', '')})"))  # fmt: skip
    return markers


class ChartController(QObject):
    loaded = Signal(str, str, int)  # symbol, timeframe, bars shown
    failed = Signal(str)

    def __init__(self, chart: ChartView, workstation: Workstation, runner: BlockingRunner,
                 parent: QObject | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.chart = chart
        self._workstation = workstation
        self._runner = runner
        self.symbol = ""
        self.timeframe = Timeframe.MIN_1
        self._generation = 0
        self._loading = False
        self._held: list[NormalizedBar] = []
        self._forming = FormingBar(self.timeframe)
        self._closed = False
        self._fills: list[FillRow] = []
        self._signals: list[SignalInfo] = []
        self._backtest: tuple[str, list[ChartMarker]] | None = None  # (symbol, markers) of the shown backtest
        chart.symbolRequested.connect(lambda symbol: self.open(symbol, self.timeframe))
        chart.timeframeRequested.connect(lambda timeframe: self.open(self.symbol, timeframe))

    def open(self, symbol: str, timeframe: str | None = None) -> None:
        """Show `symbol` (in `timeframe`, default the current one); returns at once, the load runs in a task."""
        symbol = normalize_symbol(symbol)
        if not symbol:
            return
        self._generation += 1
        self.symbol, self.timeframe = symbol, timeframe or self.timeframe
        self._forming = FormingBar(self.timeframe)
        self._loading = True
        self._held = []
        self.chart.set_symbol(symbol, self.timeframe)
        self._apply_markers()
        self.chart.set_loading(True)
        self._workstation.want(OWNER, [symbol])
        self._runner.spawn(self._load(self._generation, symbol, self.timeframe), name=f"chart-{symbol}")

    async def _load(self, generation: int, symbol: str, timeframe: str) -> None:
        try:
            await self._workstation.applied()  # this symbol's subscription (its history, on the simulated market)
            ws = self._workstation
            now = datetime.now(UTC)
            arrays = await self._runner.call(chart_bars, ws.store, symbol, timeframe, now, history=ws.history)
        except Exception as exc:
            if generation == self._generation:
                self._loading = False
                self.chart.set_loading(False)
                message = f"Could not load {symbol} {timeframe}: {trader_message(exc)}"
                self.chart.show_error(message)
                self.failed.emit(message)
            log.warning("chart load failed for %s %s", symbol, timeframe, exc_info=True)
            return
        if generation != self._generation:
            return  # the trader moved on
        self._loading = False
        self.chart.set_loading(False)
        self.chart.set_bars(*arrays)
        self.chart.show_last(VISIBLE_BARS)
        last = self.chart.last_bar()
        if last is not None:
            self._forming.seed(NormalizedBar(symbol=symbol, timeframe=timeframe, timestamp=last.timestamp,
                                             open=last.open, high=last.high, low=last.low, close=last.close,
                                             volume=last.volume))  # fmt: skip
        if len(arrays.t) == 0:
            self.chart.show_error(f"No {timeframe} bars stored for {symbol} yet; live bars will appear here.")
        held, self._held = self._held, []
        for bar in held:
            self.on_bar(bar)
        self.loaded.emit(symbol, timeframe, len(arrays.t))

    def on_bar(self, bar: NormalizedBar) -> None:
        """A live minute (GUI thread): shown if it belongs to the chart's symbol and is newer than what is shown."""
        if self._closed or bar.symbol != self.symbol:
            return
        if self._loading:
            self._held.append(bar)
            return
        last = self.chart.last_bar()
        if last is not None and bar.timestamp < last.timestamp:
            return  # a minute the loaded history already holds
        self.chart.append_bar(self._forming.update(bar))

    # --- markers (GUI thread) ---
    def show_fills(self, fills: Sequence[FillRow]) -> None:
        """The trader's fills (all symbols; the portfolio's trade history)."""
        self._fills = list(fills)
        self._apply_markers()

    def add_signal(self, signal: SignalInfo) -> None:
        """A signal one of the trader's paper sessions just recorded."""
        self._signals = [*self._signals[-(SIGNALS_KEPT - 1) :], signal]
        marker = signal_marker(signal)
        if marker is not None and signal.symbol == self.symbol:
            self.chart.add_marker(marker)

    def show_backtest(self, symbol: str, timeframe: str, trades: Iterable[dict[str, Any]]) -> None:
        """Open `symbol` in the backtest's timeframe with its trades marked (until another backtest is shown)."""
        self._backtest = (normalize_symbol(symbol), backtest_markers(trades))
        self.open(symbol, timeframe)

    def _apply_markers(self) -> None:
        markers = [fill_marker(f) for f in self._fills if f.symbol == self.symbol]
        markers += [m for s in self._signals if s.symbol == self.symbol and (m := signal_marker(s)) is not None]
        if self._backtest is not None and self._backtest[0] == self.symbol:
            markers += self._backtest[1]
        self.chart.set_markers(markers)

    def close(self) -> None:
        self._generation += 1
        self._closed = True  # a bar already queued for the GUI thread when the window closed is not drawn
        self._workstation.release(OWNER)
