"""GUI-thread stalls during a busy simulated session: `python -m bench.gui_stalls [--quick]`.

The whole window runs offscreen on the simulated market at 100x (a simulated minute every 0.6 s): the chart and a
five-symbol watchlist stream, a backtest is kept running in the backtest panel (a new one starts when one
finishes), a paper session evaluates a strategy on the live bars, and a manual order is placed every few
seconds. A watchdog on the GUI thread counts every period over 100 ms in which the event loop could not run.

Prints `gui_stalls_over_100ms` (the issue's target: 0), the longest stall, and how much work was done meanwhile,
so a zero cannot come from an idle window. Uses $STRATFORGE_TEST_DATABASE_URL's server (a scratch database) or
an embedded PostgreSQL in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync
from PySide6.QtWidgets import QApplication

from bench.common import emit
from core.db.scratch import admin_server, drop_database, scratch_url

if TYPE_CHECKING:
    from app.async_runner import BlockingRunner
    from core.domain.tickets import OrderTicket
    from core.ledger.service import Ledger

PASSWORD = "Stall-Check-2026x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="15 seconds instead of 60")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--speed", type=float, default=100.0, help="simulated minutes per real minute")
    parser.add_argument("--url", default=os.environ.get("STRATFORGE_TEST_DATABASE_URL"))
    args = parser.parse_args()
    seconds = args.seconds or (15.0 if args.quick else 60.0)
    app = QApplication.instance() or QApplication(["bench-gui-stalls"])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)  # closing the window must not stop the loop before clean-up
    with admin_server(args.url, "sf-bench-gui-") as admin:
        url = scratch_url(admin)
        try:
            result = asyncio.run(run(url, seconds, args.speed), loop_factory=qasync.QEventLoop)
        finally:
            drop_database(admin, url)
    emit("gui_stalls_over_100ms", result["stalls"], "stalls", seconds=seconds, speed=args.speed)
    emit("gui_stall_max_ms", result["max_ms"], "ms")
    emit("gui_stalls_over_50ms", result["stalls_50"], "stalls")
    emit("gui_bars_received", result["bars"], "bars")
    emit("gui_backtests_completed", result["backtests"], "runs")
    emit("gui_orders_placed", result["orders"], "orders")
    emit("gui_session_signals", result["signals"], "signals")
    emit("gui_gc_collections", result["gc_collections"], "collections", slowest_ms=round(result["gc_slowest_ms"], 1))
    for stack in result["stall_stacks"]:  # where the GUI thread was stuck (stderr: the JSON lines stay clean)
        print(f"stall over 100 ms, GUI thread was in:\n{stack}", file=sys.stderr)


async def run(url: str, seconds: float, speed: float) -> dict[str, float]:
    from app.async_runner import BlockingRunner
    from app.gui_gc import GuiThreadGarbageCollector
    from app.gui_watchdog import GuiWatchdog
    from app.views.main_window import MainWindow
    from app.views.strategy_editor import NEW_STRATEGY_TEMPLATE
    from core.accounts import AccountService
    from core.db import migrate
    from core.db.database import Database
    from core.db.engine import make_engine, make_session_factory
    from core.domain.orders import OrderSide
    from core.domain.tickets import OrderTicket
    from core.live.workstation import simulated
    from core.market.store import BarStore
    from core.paper.types import SignalRecorded
    from core.strategy.library import StrategyDraft, save_strategy

    engine = make_engine(url)
    migrate.upgrade(engine)
    db = Database("external", "bench", engine, make_session_factory(engine))
    runner = BlockingRunner()
    collector = GuiThreadGarbageCollector()  # as the app runs: cycle collection on the GUI thread, measured too
    collector.start()
    user = await runner.call(AccountService(db.session_factory).sign_up, "bench@example.com", "bench", PASSWORD)
    ws = simulated(BarStore(engine), db.session_factory, speed=speed, seed=5, backfill=timedelta(days=2))
    await ws.start()
    window = MainWindow(user, db, runner, ws)
    window.resize(1600, 1000)
    window.show()
    saved = await runner.call(save_strategy, db.session_factory, user.id, StrategyDraft("Bench", NEW_STRATEGY_TEMPLATE))
    await _until(lambda: window.chart.bar_count > 100, 60)
    window.backtest.reload()
    window.open_backtest(saved)
    form = window.backtest.form
    form.symbol_edit.setText("SPY")
    form.start_date.setDate(form.start_date.date().addDays(-3))
    assert ws.sessions is not None
    signals: list[object] = []
    ws.sessions.add_listener(lambda event: signals.append(event) if isinstance(event, SignalRecorded) else None)
    await runner.call(ws.sessions.start, user.id, saved.id, ["SPY"], "1Min")  # a paper session on the live bars
    dog = GuiWatchdog(threshold_ms=50)
    dog.start()
    bars0, backtests, orders = ws.bars_seen, 0, 0
    was_running = False
    deadline = time.monotonic() + seconds
    next_order = time.monotonic()
    try:
        while time.monotonic() < deadline:
            running = window.backtest.running
            if was_running and not running:
                backtests += 1
            if not running:
                window.backtest.run_button.click()
            was_running = window.backtest.running
            if time.monotonic() >= next_order:
                ticket = OrderTicket("SPY", OrderSide.BUY if orders % 2 == 0 else OrderSide.SELL, Decimal("1"))
                runner.spawn(_place(runner, ws.ledger, user.id, ticket), name="bench-order")
                orders += 1
                next_order += 3.0
            await asyncio.sleep(0.1)
    finally:
        dog.stop()
        window.close()
        await ws.stop()
        await runner.call(ws.close)
        runner.shutdown()
        collector.stop()
        engine.dispose()
    return {
        "stalls": dog.count_over(100),
        "stalls_50": dog.count_over(50),
        "max_ms": max((s.duration_ms for s in dog.stalls), default=0.0),
        "gc_collections": sum(collector.collections),
        "gc_slowest_ms": collector.slowest_s * 1e3,
        "stall_stacks": [s.stack for s in dog.stalls if s.duration_ms > 100],
        "bars": ws.bars_seen - bars0,
        "backtests": backtests,
        "orders": orders,
        "signals": len(signals),
    }


async def _place(runner: BlockingRunner, ledger: Ledger, user_id: uuid.UUID, ticket: OrderTicket) -> None:
    from core.ledger.errors import LedgerError

    with contextlib.suppress(LedgerError):  # a sell with nothing held is refused: part of the load, not a failure
        await runner.call(ledger.place_order, user_id, ticket)


async def _until(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not get its data in time")
        await asyncio.sleep(0.05)


if __name__ == "__main__":
    main()
