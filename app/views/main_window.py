"""The main window: docks around a candlestick chart, and a status bar that tells the truth.

The status bar shows whether the database still answers (pinged every 10 s on a worker thread),
who is logged in, and that the market is simulated, so a trader never mistakes the sandbox for the
real feed.
"""

from __future__ import annotations

import asyncio
import logging

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QDialog, QDockWidget, QLabel, QMainWindow, QWidget

from app.async_runner import BlockingRunner, run_dialog
from app.sim_feed import SimFeed
from app.views.backtest_panel import BacktestPanel
from app.views.batch_panel import BatchPanel
from app.views.chart_view import ChartView
from app.views.settings_dialog import SettingsDialog
from app.views.strategy_editor import StrategyEditorPanel
from core.accounts import UserInfo
from core.db.database import Database
from core.market.store import BarStore
from core.secrets import SecretStore

log = logging.getLogger(__name__)

PING_INTERVAL_MS = 10_000
HISTORY_BARS = 2000
VISIBLE_BARS = 200


def db_status_text(mode: str, connected: bool) -> str:
    """Status-bar wording for the database state ("embedded" or "external" mode)."""
    where = "embedded PostgreSQL" if mode == "embedded" else "shared"
    return f"DB: {where} — connected" if connected else "DB: disconnected"


class MainWindow(QMainWindow):
    """Emits `closed` once the window has closed and its timers are stopped; the caller then closes
    the database (blocking, so off the GUI thread)."""

    closed = Signal()

    def __init__(
        self,
        user: UserInfo,
        database: Database,
        runner: BlockingRunner,
        feed: SimFeed | None = None,
        ping_interval_ms: int = PING_INTERVAL_MS,
        layout_settings: QSettings | None = None,
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

        self.chart = ChartView()
        self.chart_dock = QDockWidget("Chart", self)
        self.chart_dock.setObjectName("chartDock")
        self.chart_dock.setWidget(self.chart)
        self.chart_dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(Qt.DockWidgetArea.TopDockWidgetArea, self.chart_dock)

        self.view_menu = self.menuBar().addMenu("&View")
        self.view_menu.addAction(self.chart_dock.toggleViewAction())
        self._add_work_panels(user, database, runner)
        self.reset_layout_action = QAction("&Reset layout", self)
        self.reset_layout_action.setObjectName("resetLayoutAction")
        self.reset_layout_action.triggered.connect(self.reset_layout)
        self.view_menu.addSeparator()
        self.view_menu.addAction(self.reset_layout_action)

        self.db_label = _status_label("dbStatus", db_status_text(database.mode, connected=True))
        self.db_label.setToolTip(database.display_url)
        self.user_label = _status_label("userStatus", f"{user.username} ({user.role})")
        self.mode_label = _status_label("modeStatus", "SIMULATED")
        self.mode_label.setStyleSheet("color: #f9a825; font-weight: bold;")
        self.statusBar().addWidget(self.db_label)
        self.statusBar().addPermanentWidget(self.user_label)
        self.statusBar().addPermanentWidget(self.mode_label)

        self.ping_timer = QTimer(self)
        self.ping_timer.setInterval(ping_interval_ms)
        self.ping_timer.timeout.connect(self.check_database)
        self.ping_timer.start()

        self.feed = feed if feed is not None else SimFeed(history_bars=HISTORY_BARS, parent=self)
        self.chart.set_symbol(self.feed.symbol, self.feed.timeframe)
        self.chart.set_bars(*self.feed.preload())
        self.chart.show_last(VISIBLE_BARS)
        self.feed.barReady.connect(self.chart.append_bar)
        self.feed.start()
        self._default_state = self.saveState()  # what "Reset layout" returns to
        self._restore_layout()

    # --- panels ---
    def _add_work_panels(self, user: UserInfo, database: Database, runner: BlockingRunner) -> None:
        """The strategy editor, backtests and batches, tabbed under the chart. Each panel does its database
        work on the runner's threads; bar stores are made per run (they hold their own connections)."""

        def stores() -> BarStore:
            return BarStore(database.engine)

        self.editor = StrategyEditorPanel(database.session_factory, user.id, runner)
        self.backtest = BacktestPanel(database.session_factory, stores, user.id, runner)
        self.batch = BatchPanel(database.session_factory, stores, user.id, runner)
        docks = [
            self._dock(self.editor, "Strategy", "strategyDock", QKeySequence("Ctrl+1")),
            self._dock(self.backtest, "Backtest", "backtestDock", QKeySequence("Ctrl+2")),
            self._dock(self.batch, "Batch", "batchDock", QKeySequence("Ctrl+3")),
        ]
        for dock in docks:
            self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        for dock in docks[1:]:
            self.tabifyDockWidget(docks[0], dock)
        docks[0].raise_()
        self.editor.backtestRequested.connect(self.open_backtest)
        self.editor.strategySaved.connect(self._strategy_saved)

    def _strategy_saved(self, _saved: object) -> None:
        """A new or changed strategy appears in the backtest and batch pickers without a restart."""
        self.backtest.reload()
        self.batch.refresh()

    def _dock(self, widget: QWidget, title: str, name: str, shortcut: QKeySequence) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        toggle = dock.toggleViewAction()
        toggle.setShortcut(shortcut)
        self.view_menu.addAction(toggle)
        return dock

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
        theme = self._layout_settings.value("appearance/theme", "light") if self._layout_settings else "light"
        dialog = SettingsDialog(self._database.session_factory, self.user.id, self._runner, self.secrets, url,
                                str(theme), parent=self)  # fmt: skip
        self.settings_dialog = dialog
        try:
            if await run_dialog(dialog) == QDialog.DialogCode.Accepted:
                if dialog.database_url != url:
                    await self._runner.call(self.secrets.set_database_url, dialog.database_url)
                    self.statusBar().showMessage("The database choice applies at the next start.", 10_000)
                if self._layout_settings is not None:
                    self._layout_settings.setValue("appearance/theme", dialog.theme)
        finally:
            self.settings_dialog = None

    def reset_layout(self) -> None:
        """Every dock back where it starts: a panel dragged off screen or closed is never lost."""
        for dock in self.findChildren(QDockWidget):
            dock.show()
        self.restoreState(self._default_state)

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

    # --- layout persistence and shutdown ---
    def _restore_layout(self) -> None:
        settings = self._layout_settings
        if settings is None:
            return
        geometry, state = settings.value("mainWindow/geometry"), settings.value("mainWindow/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)

    def log_out(self) -> None:
        """Close the window and have the session revoke this login everywhere it is remembered."""
        self.logout_requested = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closed:
            self._closed = True
            self.feed.stop()
            self.ping_timer.stop()
            if self._ping_task is not None:
                self._ping_task.cancel()
            if self._layout_settings is not None:
                self._layout_settings.setValue("mainWindow/geometry", self.saveGeometry())
                self._layout_settings.setValue("mainWindow/state", self.saveState())
            self.closed.emit()
        event.accept()


def _status_label(name: str, text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    return label
