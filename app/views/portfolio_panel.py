"""The Portfolio panel: the trader's virtual account as the ledger keeps it, kept current without a restart.

Every figure comes from core (``core.services.portfolio.Portfolio.overview``: the ledger's portfolio, day P&L,
open orders, fills, the equity curve and who holds what: each paper session's own book and the manual rest) in ONE
blocking call on the runner's worker threads; the panel only shows it.
Refreshes coalesce: while one runs, any number of requests make exactly one more afterwards.

What triggers a refresh:
* the ledger's NOTIFY on ``stratforge_ledger`` with this user's id (another client of the same user, a fill
  applied by whichever client holds the broker's trade stream): a ``NotificationListener`` thread hands the
  payload to the GUI thread through a queued signal;
* ``note_market_update()`` (the main window calls it when bars arrive), at most once per ``market_refresh_ms``,
  so last prices and unrealized P&L move;
* a slow timer (``poll_interval_ms``), because NOTIFY is only a hint: a client that dies between its commit
  and its NOTIFY loses the notification (core.db.notifier);
* this panel's own actions (an order placed in the ticket, a cancel) and ``refresh()``.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import QObject, QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.async_runner import BlockingRunner
from app.coalesced import CoalescedPasses
from app.display_time import shown_clock
from app.models.fills_model import FillsModel
from app.models.orders_model import OrdersModel
from app.models.positions_model import SORT_ROLE, PositionsModel, RecordTableModel, format_money, pnl_color
from app.models.session_books_model import SessionBooksModel
from app.views.order_ticket import OrderTicket
from app.views.panel_widgets import muted, went_wrong
from core.db.notify import NotificationListener
from core.db.trouble import trader_message
from core.ledger.errors import LedgerError
from core.ledger.history import EquityPoint, OrderRow
from core.ledger.service import ledger_channel
from core.ledger.views import PlacedOrder
from core.services.order_entry import PreTradeChecks
from core.services.portfolio import AccountOverview, Portfolio, PortfolioOverview
from core.services.real_money_orders import RealMoneyOrders

log = logging.getLogger(__name__)

POSITIONS_TAB, ORDERS_TAB, FILLS_TAB, EQUITY_TAB, SESSIONS_TAB = range(5)
MARKET_REFRESH_MS = 1_000
POLL_INTERVAL_MS = 30_000
ERROR_STYLE = "color: #d32f2f;"
EQUITY_PEN = pg.mkPen("#42a5f5", width=1.5)
MARKED_PEN = pg.mkPen("#42a5f5", width=1.5, style=Qt.PenStyle.DashLine)

# (key, caption, tooltip); the key names the value label "summary_<key>".
SUMMARY = (
    ("cash", "Virtual balance", "Cash not held by open orders."),
    ("buying_power", "Buying power", "Cash available for new orders."),
    ("reserved", "Reserved", "Cash held by open buy orders (their worst-case cost)."),
    ("equity", "Equity", "Cash + reserved + positions at their last prices."),
    ("day_pnl", "Day P&L", ""),
    ("total_pnl", "Total P&L", ""),
    ("realized", "Realized", "P&L of shares sold, before fees."),
    ("unrealized", "Unrealized", "Open positions at their last prices against their cost."),
)


class _Relay(QObject):
    """Carries a notification from the listener's thread to the GUI thread (a queued connection). It has no
    parent, so it outlives the panel for as long as the listener can still call it."""

    changed = Signal(str)


SUMMARY_COLUMNS = 4


class PortfolioPanel(QWidget):
    """``fillsChanged(list[FillRow])`` whenever the user's fills change (newest first; for chart markers),
    ``orderPlaced(PlacedOrder)`` after the ticket placed one, ``refreshed(AccountOverview)`` after each refresh
    is shown. Call ``shutdown()`` when the window closes."""

    fillsChanged = Signal(object)
    orderPlaced = Signal(object)
    refreshed = Signal(object)

    def __init__(
        self,
        portfolio: Portfolio,
        user_id: uuid.UUID,
        runner: BlockingRunner,
        database_url: str | None = None,
        parent: QWidget | None = None,
        *,
        market_refresh_ms: int = MARKET_REFRESH_MS,
        poll_interval_ms: int = POLL_INTERVAL_MS,
        listen_timeout_s: float = 10.0,
        ticket_checks: PreTradeChecks | None = None,
        real_orders: RealMoneyOrders | None = None,
    ) -> None:
        """``real_orders``: the trader's linked real accounts, offered in the ticket's Account field (paper stays
        the default); None offers paper only."""
        super().__init__(parent)
        self.setObjectName("portfolioPanel")
        self._real_orders = real_orders
        self._portfolio = portfolio
        self._user_id = user_id
        self._runner = runner
        self._ticket_checks = ticket_checks  # the order ticket's behavioural checks (None: the ticket sends at once)
        self._passes = CoalescedPasses(self._refresh_once, lambda start: self._spawn(start(), "portfolio-refresh"))
        self._closed = False
        self._listening = False
        self._stale = False  # the last refresh failed and its error is shown
        self._fill_ids: tuple[uuid.UUID, ...] | None = None
        self._overview: AccountOverview | None = None
        self.ticket: OrderTicket | None = None
        # The symbol "New order…" opens the ticket on (the main window points it at the chart's); "" when none,
        # then the selected position's.
        self.chart_symbol: Callable[[], str] = lambda: ""

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(self._build_summary())
        layout.addLayout(self._build_toolbar())
        self.error_label = QLabel(objectName="panelError", wordWrap=True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        layout.addWidget(self.error_label)
        layout.addWidget(self._build_tabs(), 1)

        self._market_timer = QTimer(self, singleShot=True, interval=market_refresh_ms)
        self._market_timer.timeout.connect(self.refresh)
        self._poll_timer = QTimer(self, interval=max(poll_interval_ms, 1))
        self._poll_timer.timeout.connect(self.refresh)
        if poll_interval_ms > 0:
            self._poll_timer.start()

        self._listen_timeout_s = listen_timeout_s
        self._listener: NotificationListener | None = None
        if database_url:
            self._relay = _Relay()
            self._relay.changed.connect(self._notified)
            relay, own_payload = self._relay, str(user_id)
            # After a lost connection (a database restart) changes made meanwhile were never heard: reload once.
            self._listener = NotificationListener(database_url, ledger_channel(user_id), relay.changed.emit,
                                                  on_reconnect=lambda: relay.changed.emit(own_payload))  # fmt: skip
            listener = self._listener
            # Destroyed without shutdown(): the listener still stops (the lambda holds it, not the panel).
            self.destroyed.connect(lambda *_: listener.stop(timeout=0))
            self._spawn(self._listen(), "portfolio-listen")
        self.refresh()

    # --- building ---
    def _build_summary(self) -> QGridLayout:
        grid = QGridLayout()
        grid.setHorizontalSpacing(16)
        self.summary: dict[str, QLabel] = {}
        for n, (key, caption, tip) in enumerate(SUMMARY):
            title = QLabel(caption)
            muted(title)
            value = QLabel("—", objectName=f"summary_{key}")
            value.setStyleSheet("font-weight: bold;")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            for label in (title, value):
                label.setToolTip(tip)
            # two rows of four: the panel stays narrow enough to sit beside the chart
            row, column = 2 * (n // SUMMARY_COLUMNS), n % SUMMARY_COLUMNS
            grid.addWidget(title, row, column)
            grid.addWidget(value, row + 1, column)
            self.summary[key] = value
        return grid

    def _build_toolbar(self) -> QHBoxLayout:
        self.new_order_button = QPushButton("New order…", objectName="newOrderButton")
        self.new_order_button.setShortcut(QKeySequence(Qt.Key.Key_F9))
        self.new_order_button.setToolTip("Open the order ticket for the chart's symbol (F9)")
        self.new_order_button.clicked.connect(lambda: self.open_ticket(self.chart_symbol() or None))
        self.refresh_button = QPushButton("Refresh", objectName="refreshButton")
        self.refresh_button.clicked.connect(self.refresh)
        self.status_label = QLabel(objectName="panelStatus")
        muted(self.status_label)
        row = QHBoxLayout()
        row.addWidget(self.new_order_button)
        row.addWidget(self.refresh_button)
        row.addStretch(1)
        row.addWidget(self.status_label)
        return row

    def _build_tabs(self) -> QTabWidget:
        self.positions_model = PositionsModel(self)
        self.positions_table, self.positions_proxy = _table("positionsTable", self.positions_model)
        self.positions_table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.positions_table.doubleClicked.connect(lambda *_: self.open_ticket())

        self.orders_model = OrdersModel(self)
        self.orders_table, self.orders_proxy = _table("ordersTable", self.orders_model)
        self.orders_table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.orders_table.selectionModel().selectionChanged.connect(self._update_cancel_button)
        self.cancel_button = QPushButton("Cancel order", objectName="cancelOrderButton")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_selected)
        orders_page = QWidget()
        orders_layout = QVBoxLayout(orders_page)
        orders_layout.setContentsMargins(0, 0, 0, 0)
        orders_layout.addWidget(self.orders_table, 1)
        orders_layout.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignLeft)

        self.fills_model = FillsModel(self)
        self.fills_table, self.fills_proxy = _table("fillsTable", self.fills_model)
        self.fills_table.sortByColumn(0, Qt.SortOrder.DescendingOrder)

        self.equity_plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(utcOffset=0)})
        self.equity_plot.setObjectName("portfolioEquityPlot")
        self.equity_plot.setLabel("left", "Equity", units="$")
        self.equity_plot.showGrid(x=True, y=True, alpha=0.2)
        self.equity_plot.setMouseEnabled(x=True, y=False)
        self.equity_plot.setToolTip(
            "Realized equity: starting balance + realized P&L - fees, stepping at each fill. "
            "The dashed end is the current equity with open positions at their last prices."
        )
        self.realized_curve = self.equity_plot.plot(pen=EQUITY_PEN)
        self.marked_curve = self.equity_plot.plot(pen=MARKED_PEN, symbol="o", symbolSize=6, symbolBrush="#42a5f5")

        self.books_model = SessionBooksModel(self)
        self.books_table = _books_table(self.books_model)

        self.tabs = QTabWidget(objectName="portfolioTabs")
        self.tabs.addTab(self.positions_table, "Positions")
        self.tabs.addTab(orders_page, "Open orders")
        self.tabs.addTab(self.fills_table, "Trade history")
        self.tabs.addTab(self.equity_plot, "Equity curve")
        self.tabs.addTab(self.books_table, "By session")
        self.tabs.setTabToolTip(
            SESSIONS_TAB,
            "Each paper session trades only its own book: the capital it was given and its own fills. "
            "Manual: what no session holds (its cash is the cash no running session holds).",
        )
        return self.tabs

    # --- public ---
    @property
    def overview(self) -> AccountOverview | None:
        """What the panel shows now (None before the first refresh finished)."""
        return self._overview

    @property
    def listening(self) -> bool:
        """True once changes by other clients reach this panel by NOTIFY."""
        return self._listening

    @property
    def refreshing(self) -> bool:
        return self._passes.running

    def refresh(self) -> None:
        """Re-read everything on a worker thread; while a refresh runs, further calls make one more after it."""
        if not self._closed:
            self._passes.request()

    def note_market_update(self) -> None:
        """Prices moved: refresh within ``market_refresh_ms`` (many calls in that time make one refresh)."""
        if not self._closed and not self._market_timer.isActive():
            self._market_timer.start()

    def selected_symbol(self) -> str | None:
        rows = self.positions_table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.positions_model.symbol_at(self.positions_proxy.mapToSource(rows[0]).row())

    def selected_order(self) -> OrderRow | None:
        rows = self.orders_table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.orders_model.order_at(self.orders_proxy.mapToSource(rows[0]).row())

    def open_ticket(self, symbol: str | None = None) -> OrderTicket:
        """Show the order ticket (one per panel), prefilled with ``symbol`` or the selected position's."""
        symbol = symbol if symbol is not None else self.selected_symbol()
        if self.ticket is None or not shiboken6.isValid(self.ticket):
            ticket_checks = self._ticket_checks
            self.ticket = OrderTicket(
                self._portfolio.orders, self._user_id, self._runner, symbol or "", parent=self, checks=ticket_checks,
                facts=self._portfolio, real_orders=self._real_orders,
            )  # fmt: skip
            self.ticket.orderPlaced.connect(self._order_placed)
            self.refreshed.connect(self.ticket.account_refreshed)  # prices and fills move its estimate
        elif symbol:
            self.ticket.set_symbol(symbol)
        self.ticket.show()
        self.ticket.raise_()
        self.ticket.activateWindow()
        (self.ticket.qty_edit if symbol else self.ticket.symbol_edit).setFocus()
        return self.ticket

    def cancel_selected(self) -> None:
        """Ask the ledger to cancel the selected open order; a refusal is shown in the panel."""
        order = self.selected_order()
        if order is None:
            self.show_error("Select an open order to cancel.")
            return
        self.cancel_button.setEnabled(False)
        self.show_error("")
        self._spawn(self._cancel(order), "portfolio-cancel")

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))

    def shutdown(self) -> None:
        """Stop timers and the listener (it exits within its poll interval; nothing here blocks). Safe twice."""
        if self._closed:
            return
        self._closed = True
        self._market_timer.stop()
        self._poll_timer.stop()
        if self._listener is not None:
            self._listener.stop(timeout=0)
        self._listening = False
        if self.ticket is not None and shiboken6.isValid(self.ticket):
            self.ticket.close()

    # --- behaviour ---
    async def _refresh_once(self) -> bool:
        if self._closed:
            return False
        try:
            overview = await self._runner.call(self._portfolio.overview, self._user_id)
        except Exception as exc:
            if self._alive():
                self._refresh_failed(exc)
            return False
        if not self._alive():
            return False
        self._show(overview)
        return True

    def _show(self, overview: AccountOverview) -> None:
        self._overview = overview
        p, day = overview.portfolio, overview.day
        self._set_value("cash", p.cash)
        self._set_value("buying_power", p.buying_power)
        self._set_value("reserved", p.reserved)
        self._set_value("equity", p.equity)
        self._set_value("day_pnl", day.total, pnl=True)
        self._set_value("total_pnl", p.total_pnl, pnl=True)
        self._set_value("realized", p.realized_pnl, pnl=True)
        self._set_value("unrealized", p.unrealized_pnl, pnl=True)
        self.summary["day_pnl"].setToolTip(_day_tooltip(overview))
        self.summary["total_pnl"].setToolTip(
            f"Equity - starting balance {format_money(p.starting_balance, currency=True)}; "
            f"fees paid {format_money(p.fees, currency=True)}."
        )
        selected = self.selected_order()
        self.positions_model.set_rows(p.positions)
        self.orders_model.set_rows(overview.open_orders)
        if selected is not None and self.selected_order() is None:  # the rows changed: keep the trader's pick
            self._select_order(selected.id)
        self.fills_model.set_rows(overview.fills)
        split = overview.split if isinstance(overview, PortfolioOverview) else None
        self.books_model.set_rows(split.rows if split is not None else ())
        self._plot(overview.equity_curve, overview)
        self._update_cancel_button()
        self.status_label.setText(f"Updated {shown_clock(overview.as_of)}")
        if self._stale:
            self._stale = False
            self.show_error("")
        fill_ids = tuple(f.id for f in overview.fills)
        if fill_ids != self._fill_ids:
            self._fill_ids = fill_ids
            self.fillsChanged.emit(list(overview.fills))
        self.refreshed.emit(overview)

    def _set_value(self, key: str, value: Decimal, *, pnl: bool = False) -> None:
        label = self.summary[key]
        label.setText(format_money(value, currency=True, signed=pnl))
        color = pnl_color(value) if pnl else None
        label.setStyleSheet(f"font-weight: bold; color: {color.name()};" if color else "font-weight: bold;")

    def _plot(self, curve: tuple[EquityPoint, ...], overview: AccountOverview) -> None:
        """Realized points as steps (equity holds between fills); the marked-to-market end dashed."""
        marked = bool(curve) and curve[-1] == (overview.as_of, overview.portfolio.equity) and len(curve) > 1
        realized = curve[:-1] if marked else curve
        t = np.array([p.at.timestamp() for p in realized], dtype=np.float64)
        e = np.array([float(p.equity) for p in realized], dtype=np.float64)
        if len(t) > 1:  # (t0,e0) (t1,e0) (t1,e1) (t2,e1) ...
            t = np.concatenate([t[:1], np.repeat(t[1:], 2)])
            e = np.repeat(e, 2)[:-1]
        self.realized_curve.setData(t, e)
        if marked:
            last, now = realized[-1], curve[-1]
            self.marked_curve.setData(
                [last.at.timestamp(), now.at.timestamp()], [float(last.equity), float(now.equity)]
            )
        else:
            self.marked_curve.setData([], [])

    def _refresh_failed(self, exc: Exception) -> None:
        if not isinstance(exc, LedgerError):
            log.warning("portfolio refresh failed", exc_info=exc)
        message = trader_message(exc)  # a LedgerError's own words; never a driver's socket path
        self._stale = True
        self.show_error(f"Could not refresh the portfolio: {message}")

    def _notified(self, payload: str) -> None:
        if payload == str(self._user_id):
            self.refresh()

    async def _listen(self) -> None:
        listener = self._listener
        assert listener is not None
        try:
            await self._runner.call(listener.start, self._listen_timeout_s)
        except Exception as exc:
            log.warning("portfolio panel cannot LISTEN: %s", exc)
            if self._alive() and not self._closed:
                when = f"every {self._poll_timer.interval() // 1000} s" if self._poll_timer.isActive() else "on Refresh"
                self.show_error(
                    f"Changes from your other clients will show only {when} (live updates are off: "
                    f"{trader_message(exc)})."
                )
            return
        if self._closed:
            listener.stop(timeout=0)
            return
        self._listening = True
        self.refresh()  # anything that changed between the first read and LISTEN taking effect

    async def _cancel(self, order: OrderRow) -> None:
        try:
            await self._runner.call(self._portfolio.cancel, self._user_id, order.id)
        except LedgerError as exc:
            if self._alive():
                self.show_error(str(exc))
        except Exception as exc:
            log.exception("cancel failed")
            if self._alive():
                self.show_error(f"Could not cancel the order: {trader_message(exc)}")
        else:
            if self._alive():
                self.status_label.setText(
                    f"Cancel requested: {order.side} {order.qty.normalize():f} {order.symbol} {order.order_type}."
                )
        finally:
            if self._alive():
                self.refresh()

    def _order_placed(self, placed: PlacedOrder) -> None:
        self.orderPlaced.emit(placed)
        self.refresh()

    def _select_order(self, order_id: uuid.UUID) -> None:
        row = self.orders_model.row_of(order_id)
        if row is not None:
            self.orders_table.selectRow(self.orders_proxy.mapFromSource(self.orders_model.index(row, 0)).row())

    def _update_cancel_button(self, *_: object) -> None:
        order = self.selected_order()
        self.cancel_button.setEnabled(order is not None and order.status != "pending_cancel")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._runner.spawn(self._guard(coro), name=name)

    async def _guard(self, coro: Coroutine[Any, Any, None]) -> None:
        """Anything unexpected is shown in the panel (the trace as its tooltip), never only logged."""
        try:
            await coro
        except Exception as exc:
            log.exception("portfolio panel call failed")
            if self._alive():
                self.show_error(went_wrong(exc))
                self.error_label.setToolTip(traceback.format_exc())

    def _alive(self) -> bool:
        return shiboken6.isValid(self)


def _day_tooltip(overview: AccountOverview) -> str:
    day = overview.day
    text = (
        f"Since {day.trading_day:%a %d %b} 00:00 New York: realized {format_money(day.realized, signed=True)}, "
        f"fees {format_money(day.fees)}, change in unrealized {format_money(day.unrealized_change, signed=True)} "
        "(from the previous close)."
    )
    if day.without_previous_close:
        text += f" No previous close stored for {', '.join(day.without_previous_close)}: counted since entry."
    return text


def _books_table(model: SessionBooksModel) -> QTableView:
    """Unsorted: the service's order (newest session first, the manual row last) is the meaning."""
    view = QTableView(objectName="sessionBooksTable")
    view.setModel(model)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setAlternatingRowColors(True)
    view.verticalHeader().hide()
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    view.horizontalHeader().setStretchLastSection(True)
    return view


def _table(name: str, model: RecordTableModel[Any]) -> tuple[QTableView, QSortFilterProxyModel]:
    proxy = QSortFilterProxyModel(model)
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    proxy.setDynamicSortFilter(True)
    view = QTableView(objectName=name)
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setAlternatingRowColors(True)
    view.verticalHeader().hide()
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    view.horizontalHeader().setStretchLastSection(True)
    return view, proxy
