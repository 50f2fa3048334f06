"""The main window: docks around a candlestick chart, and a status bar that tells the truth.

The status bar shows whether the database still answers (pinged every 10 s on a worker thread), the market
feed and broker states and the NYSE clock (refreshed every second from memory, no I/O), who is logged in, and
an unmistakable mode label (SIMULATED or ALPACA PAPER), so a trader never mistakes the sandbox for the club's
account. Live bars reach the window through a LiveBridge; the chart is kept by a ChartController.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QFrame,
    QLabel,
    QMainWindow,
    QScrollArea,
    QWidget,
)

from app.async_runner import BlockingRunner, run_dialog
from app.chart_controller import ChartController
from app.display_time import apply_display_zone, store_zone, stored_zone
from app.error_reporting import ErrorNotice, ErrorReporter
from app.gui_watchdog import GuiWatchdog, Stall
from app.journal_sync import JournalSync
from app.live_bridge import LiveBridge
from app.oauth_settings import stored_oauth_settings
from app.themes import apply_theme
from app.views.about_dialog import install_about_action
from app.views.admin_panel import AdminPanel
from app.views.backtest_panel import BacktestPanel
from app.views.batch_panel import BatchPanel
from app.views.chart_view import ChartView
from app.views.journal_panel import JournalPanel
from app.views.paper_sessions_panel import PaperSessionsPanel
from app.views.portfolio_panel import PortfolioPanel
from app.views.settings_dialog import SettingsDialog
from app.views.strategy_editor import StrategyEditorPanel
from app.views.watchlist_panel import WatchlistPanel
from core.accounts import UserInfo
from core.accounts.secrets import SecretStore
from core.db.database import Database
from core.db.supervisor import DatabaseState, DatabaseStatus
from core.live.workstation import SIMULATED, Workstation
from core.market.calendar import TradingCalendar
from core.market.market_clock import market_status
from core.market.store import BarStore
from core.services.admin import MemberAdmin
from core.services.backtests import Backtests
from core.services.batches import Batches
from core.services.broker_accounts import BrokerAccounts
from core.services.brokerage_sync import BrokerageSync
from core.services.database_info import server_version
from core.services.identities import IdentityService
from core.services.journal import Journal
from core.services.order_entry import pre_trade_checks
from core.services.portfolio import Portfolio
from core.services.real_money_orders import RealMoneyOrders
from core.services.risk_limits import RiskLimitsStore
from core.services.strategy_drafts import StrategyDrafts
from core.strategy.sandbox.confinement import probe_confinement

log = logging.getLogger(__name__)

LAYOUT_VERSION = 2  # 2: the chart is the central widget (1 had it in a dock); saved layouts of 1 are not applied
SIDE_DOCK_WIDTH, PORTFOLIO_DOCK_WIDTH, BOTTOM_DOCK_HEIGHT = 260, 420, 330

PING_INTERVAL_MS = 10_000
STATUS_INTERVAL_MS = 1_000
DEFAULT_SYMBOL = "SPY"
DEFAULT_WATCHLIST = ("SPY", "QQQ", "AAPL", "MSFT", "NVDA")
MODE_STYLES = {
    SIMULATED: "background: #f9a825; color: #111; font-weight: bold; padding: 1px 8px; border-radius: 3px;",
    "ALPACA PAPER": "background: #1565c0; color: white; font-weight: bold; padding: 1px 8px; border-radius: 3px;",
}


def db_status_text(mode: str, connected: bool) -> str:
    """Status-bar wording for the database state ("embedded" or "external" mode)."""
    where = "embedded PostgreSQL" if mode == "embedded" else "shared"
    return f"DB: {where} — connected" if connected else "DB: disconnected"


def db_supervised_text(mode: str, status: DatabaseStatus) -> str:
    """Status-bar wording for what the database supervisor reports (core/db/supervisor.py)."""
    where = "embedded PostgreSQL" if mode == "embedded" else "shared"
    match status.state:
        case DatabaseState.RESTARTING:
            return "DB: restarting…" if status.attempt <= 1 else f"DB: restarting… (attempt {status.attempt})"
        case DatabaseState.RECONNECTED:
            return f"DB: {where} — reconnected"
        case DatabaseState.FAILED:
            return "DB: stopped — restart StratForge"
        case DatabaseState.DISCONNECTED:
            return db_status_text(mode, connected=False)
    return db_status_text(mode, connected=True)


class MainWindow(QMainWindow):
    """Emits `closed` once the window has closed and its timers are stopped; the caller then closes
    the database (blocking, so off the GUI thread)."""

    closed = Signal()
    databaseStatus = Signal(object)  # a DatabaseStatus from the supervisor's thread, shown on the GUI thread

    def __init__(
        self,
        user: UserInfo,
        database: Database,
        runner: BlockingRunner,
        workstation: Workstation,
        ping_interval_ms: int = PING_INTERVAL_MS,
        layout_settings: QSettings | None = None,
        debug: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle(f"StratForge — {user.username}")
        self.setDockNestingEnabled(True)
        self.resize(1280, 800)
        self.user = user
        self._database = database
        self._runner = runner
        self.workstation = workstation
        self._calendar: TradingCalendar | None = None
        self._calendar_asked = False
        self._ping_task: asyncio.Task[None] | None = None
        self._closed = False
        self._layout_settings = layout_settings  # None: do not save/restore the dock layout (tests)
        self.logout_requested = False  # read by the session after `closed`: forget the remembered login

        account_menu = self.menuBar().addMenu("&Account")
        self.logout_action = QAction("Log &out", self)
        self.logout_action.setObjectName("logoutAction")
        self.logout_action.setShortcut(QKeySequence("Ctrl+Shift+Q"))
        self.logout_action.triggered.connect(self.log_out)
        account_menu.addAction(self.logout_action)
        self.settings_action = QAction("&Settings…", self)
        self.settings_action.setObjectName("settingsAction")
        self.settings_action.setShortcut(QKeySequence.StandardKey.Preferences)
        self.settings_action.triggered.connect(self.open_settings)
        account_menu.addAction(self.settings_action)
        self.secrets = SecretStore()
        self.settings_dialog: SettingsDialog | None = None
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        account_menu.addAction(quit_action)

        # The chart is the window's centre: the panels dock around it and can never squeeze it to a strip.
        self.chart = ChartView()
        self.setCentralWidget(self.chart)
        # The chart's bars are asked for first: the panels built below queue their own first loads on the same
        # four worker threads, and the chart is what a trader waits for.
        self.chart_controller = ChartController(self.chart, workstation, runner, parent=self)
        self.chart_controller.failed.connect(lambda message: self.statusBar().showMessage(message, 10_000))
        # The NYSE calendar (about a second of pandas work that holds the GIL) is built once the chart has its bars:
        # started with the window, it slowed the chart's first paint by as much.
        self.chart_controller.loaded.connect(self._chart_loaded)
        self.chart_controller.failed.connect(self._chart_loaded)  # a chart that cannot load still gets its clock
        self.chart_controller.open(self._setting("chart/symbol", DEFAULT_SYMBOL))

        self.view_menu = self.menuBar().addMenu("&View")
        self._add_work_panels(user, database, runner, workstation)
        self.reset_layout_action = QAction("&Reset layout", self)
        self.reset_layout_action.setObjectName("resetLayoutAction")
        self.reset_layout_action.triggered.connect(self.reset_layout)
        self.view_menu.addSeparator()
        self.view_menu.addAction(self.reset_layout_action)
        # Help > About: versions of StratForge, Qt, Python and the connected PostgreSQL, and the sandbox's
        # confinement (both asked off the GUI thread: a round trip, a first probe of about 100 ms)
        self.about_action = install_about_action(
            self, lambda: runner.call(server_version, database.engine), lambda: runner.call(probe_confinement)
        )

        self.db_label = _status_label("dbStatus", db_status_text(database.mode, connected=True))
        self.db_label.setToolTip(database.display_url)
        self.feed_label = _status_label("feedStatus", "Feed: starting…")
        self.broker_label = _status_label("brokerStatus", "Broker: starting…")
        self.clock_label = _status_label("marketClock", "Market clock: loading")
        self.user_label = _status_label("userStatus", f"{user.username} ({user.role})")
        self.mode_label = _status_label("modeStatus", workstation.mode)
        self.mode_label.setStyleSheet(MODE_STYLES.get(workstation.mode, MODE_STYLES[SIMULATED]))
        self.mode_label.setToolTip(
            "Simulated market and broker on this computer: no real or paper account is touched."
            if workstation.mode == SIMULATED
            else "Orders go to the club's shared Alpaca PAPER account, checked against your virtual balance."
        )
        for widget in (self.db_label, self.feed_label, self.broker_label, self.clock_label):
            self.statusBar().addWidget(widget)
        self.error_notice = ErrorNotice()
        self.statusBar().addPermanentWidget(self.error_notice)
        self.errors = ErrorReporter(self)
        self.errors.errorReported.connect(self.error_notice.show_report)
        self.errors.install()
        runner.on_error = self.errors.report
        self.statusBar().addPermanentWidget(self.user_label)
        self.statusBar().addPermanentWidget(self.mode_label)

        self.ping_timer = QTimer(self)
        self.ping_timer.setInterval(ping_interval_ms)
        self.ping_timer.timeout.connect(self.check_database)
        # A supervised database (the app's) reports its own state: restarts, outages, reconnections. Without one
        # (tests, tools) the window pings it itself.
        self._supervisor = getattr(database, "supervisor", None)
        self.databaseStatus.connect(self.show_database_status)
        self._relay_status = self.databaseStatus.emit  # one callable: the same one is unsubscribed at close
        if self._supervisor is not None:
            self._supervisor.subscribe(self._relay_status)
        else:
            self.ping_timer.start()
        self.status_timer = QTimer(self)
        self.status_timer.setInterval(STATUS_INTERVAL_MS)
        self.status_timer.timeout.connect(self.update_live_status)
        self.status_timer.start()

        self.bridge = LiveBridge(workstation, parent=self)
        self.bridge.barArrived.connect(self.chart_controller.on_bar)
        self.bridge.pricesMoved.connect(self._prices_moved)
        self.bridge.pricesMoved.connect(self.portfolio.note_market_update)
        self.portfolio.fillsChanged.connect(self.chart_controller.show_fills)
        self.backtest.showTradesOnChart.connect(self._show_backtest_trades)
        if self.sessions is not None:
            self.sessions.signalRecorded.connect(self.chart_controller.add_signal)
        self.portfolio.chart_symbol = lambda: self.chart_controller.symbol  # "New order…" opens on it
        self.workstation.want("watchlist", self.watchlist.symbols)
        self.watchlist.load_stored_closes(runner, workstation.prices.quote)  # until the first live bars
        self.update_live_status()

        self.watchdog: GuiWatchdog | None = None
        if debug:
            self.watchdog = GuiWatchdog(parent=self)
            self.watchdog.stallDetected.connect(self._stall)
            self.watchdog.start()
        # The chart gets most of the height and the middle of the width; the panels share the rest.
        side = [self.findChild(QDockWidget, name) for name in ("watchlistDock", "portfolioDock")]
        self.resizeDocks(side, [SIDE_DOCK_WIDTH, PORTFOLIO_DOCK_WIDTH], Qt.Orientation.Horizontal)
        bottom = self.findChild(QDockWidget, "strategyDock")
        if bottom is not None:
            self.resizeDocks([bottom], [BOTTOM_DOCK_HEIGHT], Qt.Orientation.Vertical)
        self._default_state = self.saveState(LAYOUT_VERSION)  # what "Reset layout" returns to
        self._restore_layout()

    # --- panels ---
    def _add_work_panels(self, user: UserInfo, database: Database, runner: BlockingRunner,
                         workstation: Workstation) -> None:  # fmt: skip
        """The watchlist left of the chart, the portfolio right of it; the strategy editor, backtests, batches and
        paper sessions tabbed under it. Each panel does its database work on the runner's threads; bar stores
        are made per run (they hold their own connections)."""

        def stores() -> BarStore:
            return BarStore(database.engine)

        self.watchlist = WatchlistPanel(self._watchlist_setting())
        watch_dock = self._dock(self.watchlist, "Watchlist", "watchlistDock", QKeySequence("Ctrl+W"))
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, watch_dock)
        self.watchlist.symbolActivated.connect(self.open_symbol)
        self.watchlist.symbolsChanged.connect(self._watchlist_changed)

        # The portfolio LISTENs for the ledger's NOTIFY: changes by the same user's other clients (or fills
        # booked by whichever client holds the club's trade stream) show without a restart.
        listen_url = database.engine.url.render_as_string(hide_password=False)
        ticket_checks = pre_trade_checks(database.session_factory, workstation.ledger)
        portfolio = Portfolio(workstation.ledger, database.session_factory, orders=workstation.orders,
                              prices=workstation.prices)  # fmt: skip
        # The trader's own linked brokerage accounts (Settings > Broker accounts): paper stays the ticket's default;
        # a real account's fills are booked into the journal from log-in on.
        self._broker_accounts = BrokerAccounts.on_this_computer(database.session_factory)
        self._real_orders = RealMoneyOrders(database.session_factory, self._broker_accounts)
        self.portfolio = PortfolioPanel(portfolio, user.id, runner, database_url=listen_url,
                                        ticket_checks=ticket_checks, real_orders=self._real_orders)  # fmt: skip
        runner.spawn(self._follow_real_accounts(), name="follow-real-accounts")
        portfolio_dock = self._dock(self.portfolio, "Portfolio", "portfolioDock", QKeySequence("Ctrl+P"))
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, portfolio_dock)

        # Each panel gets the services it shows; only here is the database handed to them.
        drafts = StrategyDrafts(database.session_factory)
        self.editor = StrategyEditorPanel(drafts, user.id, runner)
        self.backtest = BacktestPanel(Backtests(database.session_factory, stores), user.id, runner)
        self.batch = BatchPanel(Batches(database.session_factory, stores), user.id, runner)
        docks = [
            self._dock(self.editor, "Strategy", "strategyDock", QKeySequence("Ctrl+1"), scroll=True),
            self._dock(self.backtest, "Backtest", "backtestDock", QKeySequence("Ctrl+2"), scroll=True),
            self._dock(self.batch, "Batch", "batchDock", QKeySequence("Ctrl+3"), scroll=True),
        ]
        self.sessions: PaperSessionsPanel | None = None
        if workstation.sessions is not None:
            self.sessions = PaperSessionsPanel(workstation.sessions, drafts, user.id, runner)
            docks.append(self._dock(self.sessions, "Paper sessions", "sessionsDock", QKeySequence("Ctrl+4"),
                                    scroll=True))  # fmt: skip
        journal = Journal(database.session_factory)
        self.journal = JournalPanel(journal, user.id, runner, brokerage=BrokerageSync(database.session_factory))
        docks.append(self._dock(self.journal, "Journal", "journalDock", QKeySequence("Ctrl+5"), scroll=True))
        for dock in docks:
            self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        for dock in docks[1:]:
            self.tabifyDockWidget(docks[0], dock)
        docks[0].raise_()
        self.editor.backtestRequested.connect(self.open_backtest)
        self.editor.strategySaved.connect(self._strategy_saved)

        # The admin's members and sign-up requests, tabbed behind the portfolio; only an admin has it. A solo
        # (embedded) database has no requests to approve: its first user is the admin, sign-up is immediate.
        self.admin: AdminPanel | None = None
        if user.role == "admin":
            self.admin = AdminPanel(MemberAdmin(database.session_factory), user.id, runner,
                                    sign_ups=database.mode != "embedded")  # fmt: skip
            admin_dock = self._dock(self.admin, "Admin", "adminDock", QKeySequence("Ctrl+6"))
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, admin_dock)
            self.tabifyDockWidget(portfolio_dock, admin_dock)
            portfolio_dock.raise_()

        # Every booked fill reaches the journal (checks linked, campaigns regrouped, post-trade checks), from the
        # ledger's NOTIFY as the portfolio hears it, and once now for fills booked while the app was closed.
        self.journal_sync = JournalSync(journal, user.id, runner, parent=self)
        self.journal_sync.failed.connect(self.statusBar().showMessage)
        self.journal_sync.updated.connect(self.journal.refresh)
        self.portfolio.fillsChanged.connect(self.journal_sync.request)
        self.journal_sync.request()

    def _strategy_saved(self, _saved: object) -> None:
        """A new or changed strategy appears in the backtest and batch pickers without a restart."""
        self.backtest.reload()
        self.batch.refresh()
        if self.sessions is not None:
            self.sessions.reload()

    def _show_backtest_trades(self, trades: list[dict[str, object]]) -> None:
        """The backtest panel's "Show trades on chart": its symbol and timeframe, entries and exits marked."""
        result = self.backtest.shown_result
        if result is None or not result.symbols:
            return
        self.chart_controller.show_backtest(result.symbols[0], result.timeframe, trades)  # type: ignore[arg-type]

    def _dock(self, widget: QWidget, title: str, name: str, shortcut: QKeySequence,
              scroll: bool = False) -> QDockWidget:  # fmt: skip
        """A dock for ``widget``. ``scroll``: the panel scrolls inside a short dock instead of imposing its full
        height (the work panels under the chart would otherwise push it down to a strip)."""
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        if scroll:
            area = QScrollArea(dock)
            area.setObjectName(f"{name}Scroll")
            area.setWidgetResizable(True)
            area.setFrameShape(QFrame.Shape.NoFrame)
            area.setWidget(widget)
            dock.setWidget(area)
        else:
            dock.setWidget(widget)
        toggle = dock.toggleViewAction()
        toggle.setShortcut(shortcut)
        self.view_menu.addAction(toggle)
        return dock

    def panel_of(self, dock: QDockWidget) -> QWidget | None:
        """The panel a dock shows (inside its scroll area, for the work panels)."""
        widget = dock.widget()
        return widget.widget() if isinstance(widget, QScrollArea) else widget

    # --- live data ---
    def open_symbol(self, symbol: str) -> None:
        """Show `symbol` in the chart (from the watchlist, or the chart's own search box)."""
        self.chart_controller.open(symbol)
        if self._layout_settings is not None:
            self._layout_settings.setValue("chart/symbol", symbol)

    def _watchlist_changed(self, symbols: list[str]) -> None:
        self.workstation.want("watchlist", symbols)
        self.watchlist.load_stored_closes(self._runner, self.workstation.prices.quote)
        if self._layout_settings is not None:
            self._layout_settings.setValue(f"watchlist/{self.user.id}", symbols)
        self._prices_moved()

    def _watchlist_setting(self) -> list[str]:
        stored = self._layout_settings.value(f"watchlist/{self.user.id}") if self._layout_settings else None
        if isinstance(stored, str):
            stored = [stored]  # QSettings hands back a one-item list as a plain string on some backends
        return [str(s) for s in stored] if isinstance(stored, list) else list(DEFAULT_WATCHLIST)

    def _setting(self, key: str, default: str) -> str:
        value = self._layout_settings.value(key, default) if self._layout_settings is not None else default
        return str(value) if value else default

    def _prices_moved(self) -> None:
        self.watchlist.show_quotes(self.workstation.quotes.quotes(self.watchlist.symbols))

    def _chart_loaded(self, *_: object) -> None:
        if self._calendar is None and not self._calendar_asked:
            self._calendar_asked = True
            self._runner.spawn(self._load_calendar(), name="calendar")

    async def _load_calendar(self) -> None:
        """The NYSE calendar takes a fraction of a second to build: not on the GUI thread."""
        self._calendar = await self._runner.call(TradingCalendar)
        self.update_live_status()

    def update_live_status(self) -> None:
        """Feed, broker and market clock labels (from memory: no I/O on the GUI thread)."""
        status = self.workstation.status()
        self.feed_label.setText(status.feed)
        self.feed_label.setToolTip(status.feed)  # a refused stream's reason makes it long: the status bar cuts it
        self.feed_label.setStyleSheet("" if status.feed_ok else "color: #ef5350;")
        self.broker_label.setText(status.broker)
        self.broker_label.setToolTip(status.broker)
        self.broker_label.setStyleSheet("" if status.broker_ok else "color: #ef5350;")
        if self._calendar is not None:
            try:
                self.clock_label.setText(market_status(datetime.now(UTC), self._calendar).text())
            except ValueError as exc:  # past the calendar's last year: say so rather than crash the timer
                self.clock_label.setText(f"Market clock unavailable: {exc}")

    def _stall(self, stall: Stall) -> None:
        self.statusBar().showMessage(f"Debug: the GUI thread stalled for {stall.duration_ms:.0f} ms", 5_000)

    def open_backtest(self, saved: object) -> None:
        """The editor's "Backtest…": preselect that strategy in the backtest panel and bring it forward."""
        self.backtest.set_strategy(saved)
        dock = self.findChild(QDockWidget, "backtestDock")
        if dock is not None:
            dock.show()
            dock.raise_()

    def open_settings(self) -> None:
        """The Settings dialog (keys, database, risk limits, theme); its keyring and database work runs off the
        GUI thread, so it is opened from a task."""
        if self.settings_dialog is None:
            self._runner.spawn(self._settings(), name="settings")
        else:
            self.settings_dialog.raise_()

    async def _settings(self) -> None:
        url = await self._runner.call(self.secrets.database_url)
        theme = self._setting("appearance/theme", "dark")
        identities = await self._runner.call(IdentityService.for_database, self._database, stored_oauth_settings())
        dialog = SettingsDialog(RiskLimitsStore(self._database.session_factory), self.user.id, self._runner,
                                self.secrets, url, str(theme), parent=self,
                                time_zone=stored_zone(self._layout_settings), identities=identities,
                                broker_accounts=self._broker_accounts)  # fmt: skip
        self.settings_dialog = dialog
        try:
            if await run_dialog(dialog) == QDialog.DialogCode.Accepted:
                if dialog.database_url != url:
                    await self._runner.call(self.secrets.set_database_url, dialog.database_url)
                    self.statusBar().showMessage("The database choice applies at the next start.", 10_000)
                if self._layout_settings is not None:
                    self._layout_settings.setValue("appearance/theme", dialog.theme)
                app = QApplication.instance()
                if isinstance(app, QApplication):
                    apply_theme(app, dialog.theme)
                store_zone(self._layout_settings, dialog.time_zone)
                apply_display_zone(dialog.time_zone)  # every view re-renders its times now
                self.editor.ai.refresh_key()  # a Gemini key just added enables generation without a restart
        finally:
            self.settings_dialog = None

    def reset_layout(self) -> None:
        """Every dock back where it starts: a panel dragged off screen or closed is never lost."""
        for dock in self.findChildren(QDockWidget):
            dock.show()
        self.restoreState(self._default_state, LAYOUT_VERSION)

    # --- linked real accounts ---
    async def _follow_real_accounts(self) -> None:
        """Book the fills of every linked account that is logged in; say which could not be opened."""
        problems = await self._runner.call(self._real_orders.follow, self.user.id)
        if problems and not self._closed:
            self.statusBar().showMessage("; ".join(problems), 15_000)

    # --- database status ---
    def check_database(self) -> None:
        """Ping the database on a worker thread (skipped while a ping is still out)."""
        if self._closed or (self._ping_task is not None and not self._ping_task.done()):
            return
        self._ping_task = self._runner.spawn(self._ping(), name="db-ping")

    async def _ping(self) -> None:
        connected = await self._runner.call(self._database.ping)
        if not self._closed:
            self.db_label.setText(db_status_text(self._database.mode, connected))

    def show_database_status(self, status: DatabaseStatus) -> None:
        """The supervisor's news: the label says the state, its tooltip and the status line say what happened."""
        if self._closed:
            return
        self.db_label.setText(db_supervised_text(self._database.mode, status))
        self.db_label.setToolTip(status.message or self._database.display_url)
        failed = status.state in (DatabaseState.FAILED, DatabaseState.DISCONNECTED, DatabaseState.RESTARTING)
        self.db_label.setStyleSheet("color: #ef5350;" if failed else "")
        if status.message and status.state is not DatabaseState.RESTARTING:
            self.statusBar().showMessage(status.message, 0 if status.state is DatabaseState.FAILED else 10_000)

    # --- layout persistence and shutdown ---
    def _restore_layout(self) -> None:
        settings = self._layout_settings
        if settings is None:
            return
        geometry, state = settings.value("mainWindow/geometry"), settings.value("mainWindow/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state, LAYOUT_VERSION)  # a layout of another version is refused: the default stays

    def log_out(self) -> None:
        """Close the window and have the session revoke this login everywhere it is remembered."""
        self.logout_requested = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closed:
            self._closed = True
            self.bridge.detach()
            self.portfolio.shutdown()
            # Closing a linked broker waits for its order-update poller (Zerodha: up to 5 s): off the GUI thread.
            self._runner.spawn(self._runner.call(self._real_orders.close), name="close-real-accounts")
            self.editor.shutdown()  # closes the Gemini client
            self.journal.shutdown()
            if self.admin is not None:
                self.admin.shutdown()
            if self.sessions is not None:
                self.sessions.detach()
            self.chart_controller.close()
            self.workstation.release("watchlist")
            self.ping_timer.stop()
            self.status_timer.stop()
            if self.watchdog is not None:
                self.watchdog.stop()
            self.errors.uninstall()
            if self._runner.on_error == self.errors.report:
                self._runner.on_error = None
            if self._ping_task is not None:
                self._ping_task.cancel()
            if self._supervisor is not None:
                self._supervisor.unsubscribe(self._relay_status)
            if self._layout_settings is not None:
                self._layout_settings.setValue("mainWindow/geometry", self.saveGeometry())
                self._layout_settings.setValue("mainWindow/state", self.saveState(LAYOUT_VERSION))
            self.closed.emit()
        event.accept()


def _status_label(name: str, text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    return label
