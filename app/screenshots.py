"""`stratforge screenshots [--out DIR]`: every panel rendered with sample data to PNG files, without a display.

It runs the real application stack offscreen: a throwaway embedded PostgreSQL (or `--database-url`, where it
creates and then drops a scratch database), a demo trader, the simulated market at high speed, a saved sample
strategy, a backtest, a few orders; then grabs the whole window and each dock. The images are for looking at
the UI on a machine without a screen (CI, a server); they are written outside the repository by default and
never committed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from core.domain.timeframes import Timeframe

if TYPE_CHECKING:  # Qt is imported only after QT_QPA_PLATFORM is set
    from PySide6.QtWidgets import QWidget

    from app.async_runner import BlockingRunner
    from core.db.database import Database

DEMO_PASSWORD = "Screenshot-Pass-2026"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="stratforge screenshots",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""examples:
  stratforge screenshots --out /tmp/stratforge-screenshots
  stratforge screenshots --theme light --database-url postgresql://postgres@127.0.0.1/postgres""",
    )
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "stratforge-screenshots")
    parser.add_argument("--database-url", help="a PostgreSQL server to create a scratch database on")
    parser.add_argument("--theme", choices=("dark", "light"), default="dark")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the sample data")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[2:] if argv is None else argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import qasync
    from PySide6.QtWidgets import QApplication

    from app.themes import apply_theme

    app = QApplication.instance() or QApplication(["stratforge-screenshots"])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)  # closing the window must not stop the loop before clean-up
    apply_theme(app, args.theme)
    args.out.mkdir(parents=True, exist_ok=True)
    written = asyncio.run(_render(args), loop_factory=qasync.QEventLoop)
    for path in written:
        print(path)
    return 0 if written else 1


async def _render(args: argparse.Namespace) -> list[Path]:
    from app.async_runner import BlockingRunner

    runner = BlockingRunner()
    try:
        with _database(args.database_url) as database:
            return await _render_with(database, runner, args)
    finally:
        runner.shutdown()


@contextlib.contextmanager
def _database(url: str | None) -> Iterator[Database]:
    """A freshly migrated scratch database on `url`'s server, or on an embedded one in a temporary folder."""
    from core.db import migrate
    from core.db.database import Database
    from core.db.engine import make_engine, make_session_factory
    from core.db.scratch import admin_server, drop_database, scratch_url

    with admin_server(url, "sf-screenshots-") as admin:
        scratch = scratch_url(admin)
        engine = make_engine(scratch)
        try:
            migrate.upgrade(engine)
            yield Database("external", "screenshots", engine, make_session_factory(engine))
        finally:
            engine.dispose()
            drop_database(admin, scratch)


async def _render_with(db: Database, runner: BlockingRunner, args: argparse.Namespace) -> list[Path]:
    from PySide6.QtWidgets import QDockWidget

    from app.views.main_window import MainWindow
    from app.views.strategy_editor import NEW_STRATEGY_TEMPLATE
    from core.accounts import AccountService
    from core.domain.orders import OrderSide, OrderType
    from core.domain.tickets import OrderTicket
    from core.live.workstation import simulated
    from core.market.store import BarStore
    from core.services.journal import Journal
    from core.strategy.library import StrategyDraft, save_strategy

    accounts = AccountService(db.session_factory)
    user = await runner.call(accounts.sign_up, "demo@example.com", "demo", DEMO_PASSWORD)
    ws = simulated(BarStore(db.engine), db.session_factory, speed=600, seed=42, backfill=timedelta(days=3))
    await ws.start()
    window = MainWindow(user, db, runner, ws)
    try:
        window.resize(1600, 1000)
        window.show()
        deadline = time.monotonic() + args.timeout
        await _until(lambda: window.chart.bar_count > 100, deadline)
        draft = StrategyDraft("SMA cross", NEW_STRATEGY_TEMPLATE)
        saved = await runner.call(save_strategy, db.session_factory, user.id, draft)
        window.editor.reload()
        window.editor.open_strategy(saved.id)
        window.backtest.reload()
        window.open_backtest(saved)
        window.backtest.form.symbol_edit.setText("SPY")
        window.backtest.form.timeframe_combo.setCurrentText(Timeframe.MIN_1)
        window.backtest.form.start_date.setDate(window.backtest.form.start_date.date().addDays(-5))
        window.backtest.run_button.click()
        await _until(lambda: window.backtest.shown_result is not None or window.backtest.error_box.isVisible(),
                     deadline)  # fmt: skip
        for ticket in (
            OrderTicket("SPY", OrderSide.BUY, Decimal("10")),
            OrderTicket("AAPL", OrderSide.BUY, Decimal("5")),
            OrderTicket("MSFT", OrderSide.BUY, Decimal("3"), type=OrderType.LIMIT, limit_price=Decimal("1")),
        ):
            await runner.call(ws.ledger.place_order, user.id, ticket)
        await asyncio.sleep(1.5)  # a few simulated minutes: the market orders fill, quotes move
        await runner.call(ws.ledger.place_order, user.id, OrderTicket("SPY", OrderSide.SELL, Decimal("10")))
        note = "Waited for the pullback; sold into strength. Keep position size under 5% next week."
        await runner.call(Journal(db.session_factory).create_entry, user.id, datetime.now(UTC).date(), note,
                          tags=["discipline", "spy"], mood="calm")  # fmt: skip
        await asyncio.sleep(1.5)  # the sell fills: a closed campaign in the journal
        window.journal.refresh()
        await asyncio.sleep(0.5)
        written = [_grab(window, args.out / "main_window.png"), _grab(window.chart, args.out / "chart.png")]
        editor_dock = window.findChild(QDockWidget, "strategyDock")
        editor_dock.show()
        editor_dock.raise_()
        window.editor.side_tabs.setCurrentIndex(window.editor.side_tabs.count() - 1)  # the AI tab
        await asyncio.sleep(0.3)
        written.append(_grab(window.editor, args.out / "strategy_ai.png"))
        window.editor.side_tabs.setCurrentIndex(0)
        for dock in window.findChildren(QDockWidget):
            dock.show()
            dock.raise_()
            await asyncio.sleep(0.2)
            name = dock.objectName().removesuffix("Dock")
            written.append(_grab(window.panel_of(dock) or dock, args.out / f"{name}.png"))
        return written
    finally:
        window.close()
        await ws.stop()
        await runner.call(ws.close)


async def _until(predicate: Callable[[], bool], deadline: float) -> None:
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the sample data did not appear in time")
        await asyncio.sleep(0.05)


def _grab(widget: QWidget, path: Path) -> Path:
    pixmap = widget.grab()
    if not pixmap.save(str(path)):
        raise OSError(f"could not write {path}")
    return path
