"""The manual order ticket: a trader types an order, the ledger decides.

The ticket only catches input that cannot be an order at all (no symbol, a quantity that is not a positive
number, a limit order without its price) so the trader hears about typos at once. Everything about whether
the order is *allowed* (fractional shares, funds, max order value and the other risk rules, the broker's
answer) is the ledger's call: its reason is shown verbatim in red and nothing else happens. The ledger runs on
a worker thread, so a slow broker never freezes the window, and Submit is disabled while one order is in
flight (a double click cannot send two).
"""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal, InvalidOperation
from enum import StrEnum

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.async_runner import BlockingRunner
from app.views.watchlist_panel import TICKER
from core.broker.types import OrderSide, OrderType, TimeInForce
from core.ledger.errors import LedgerError, OrderRejected
from core.ledger.service import Ledger
from core.ledger.views import PlacedOrder
from core.risk.context import OrderTicket as TicketRequest

log = logging.getLogger(__name__)

SIDES = (("Buy", OrderSide.BUY), ("Sell", OrderSide.SELL))
TYPES = (("Market", OrderType.MARKET), ("Limit", OrderType.LIMIT), ("Stop", OrderType.STOP))
TIFS = (("Day", TimeInForce.DAY), ("GTC", TimeInForce.GTC))
ERROR_STYLE = "color: #d32f2f;"


class TicketInputError(ValueError):
    """Input that cannot be sent as an order; ``str()`` tells the trader what to fix."""


def parse_amount(text: str, what: str, *, required: bool) -> Decimal | None:
    """A positive decimal typed by the trader (thousands separators allowed); None when empty and optional."""
    cleaned = text.strip().replace(",", "")
    if not cleaned:
        if required:
            raise TicketInputError(f"Enter {what}.")
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise TicketInputError(f"{what.capitalize()} must be a number, not “{text.strip()}”.") from None
    if not value.is_finite():
        raise TicketInputError(f"{what.capitalize()} must be a number, not “{text.strip()}”.")
    if value <= 0:
        raise TicketInputError(f"{what.capitalize()} must be greater than zero.")
    return value


def _combo(name: str, items: tuple[tuple[str, StrEnum], ...]) -> QComboBox:
    """Items carry the enum's value (Qt hands a str subclass back as a plain str)."""
    combo = QComboBox(objectName=name)
    for text, value in items:
        combo.addItem(text, value.value)
    return combo


def _line(name: str, placeholder: str) -> QLineEdit:
    edit = QLineEdit(objectName=name)
    edit.setPlaceholderText(placeholder)
    return edit


class OrderTicket(QDialog):
    """Emits ``orderPlaced(PlacedOrder)`` after the ledger accepted an order (a rejection emits nothing)."""

    orderPlaced = Signal(object)

    def __init__(
        self,
        ledger: Ledger,
        user_id: uuid.UUID,
        runner: BlockingRunner,
        symbol: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("orderTicket")
        self.setWindowTitle("New order")
        self._ledger = ledger
        self._user_id = user_id
        self._runner = runner
        self._sending = False

        self.symbol_edit = _line("ticketSymbol", "Symbol, e.g. AAPL")
        self.symbol_edit.textEdited.connect(self._upper_case)
        self.side_combo = _combo("ticketSide", SIDES)
        self.qty_edit = _line("ticketQty", "Shares, e.g. 10 or 0.5")
        self.type_combo = _combo("ticketType", TYPES)
        self.type_combo.currentIndexChanged.connect(self._type_changed)
        self.limit_edit = _line("ticketLimitPrice", "Limit price")
        self.stop_edit = _line("ticketStopPrice", "Stop price")
        self.tif_combo = _combo("ticketTif", TIFS)
        self.bracket_box = QGroupBox("Bracket: take-profit and stop-loss", objectName="ticketBracket")
        self.bracket_box.setCheckable(True)
        self.bracket_box.setChecked(False)
        self.take_profit_edit = _line("ticketTakeProfit", "Take-profit limit")
        self.stop_loss_edit = _line("ticketStopLoss", "Stop-loss trigger")
        bracket = QFormLayout(self.bracket_box)
        bracket.addRow("Take profit", self.take_profit_edit)
        bracket.addRow("Stop loss", self.stop_loss_edit)

        form = QFormLayout()
        form.addRow("Symbol", self.symbol_edit)
        form.addRow("Side", self.side_combo)
        form.addRow("Quantity", self.qty_edit)
        form.addRow("Type", self.type_combo)
        form.addRow("Limit price", self.limit_edit)
        form.addRow("Stop price", self.stop_edit)
        form.addRow("Time in force", self.tif_combo)

        self.error_label = QLabel(objectName="ticketError", wordWrap=True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        self.status_label = QLabel(objectName="ticketStatus", wordWrap=True)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.submit_button = QPushButton("Submit", objectName="ticketSubmit")
        self.submit_button.setDefault(True)
        self.submit_button.clicked.connect(self.submit)
        self.close_button = QPushButton("Close", objectName="ticketClose")
        self.close_button.setAutoDefault(False)
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        buttons.addWidget(self.submit_button)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.bracket_box)
        layout.addWidget(self.error_label)
        layout.addWidget(self.status_label)
        layout.addLayout(buttons)
        for edit in self.findChildren(QLineEdit):
            edit.textEdited.connect(self._hide_error)
        self._type_changed()
        self.set_symbol(symbol)

    # --- public ---
    @property
    def sending(self) -> bool:
        return self._sending

    def set_symbol(self, symbol: str) -> None:
        self.symbol_edit.setText(symbol.strip().upper())

    def show_error(self, message: str) -> None:
        """Red text under the form (empty hides it)."""
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))

    def build_request(self) -> TicketRequest:
        """The order as typed; raises TicketInputError for input that cannot be an order."""
        symbol = self.symbol_edit.text().strip().upper()
        if not symbol:
            raise TicketInputError("Enter a symbol.")
        if not TICKER.match(symbol):
            raise TicketInputError(f"“{symbol}” is not a ticker symbol (letters, digits, '.' or '-').")
        qty = parse_amount(self.qty_edit.text(), "the quantity", required=True)
        assert qty is not None
        kind = OrderType(self.type_combo.currentData())
        limit = parse_amount(self.limit_edit.text(), "the limit price", required=kind is OrderType.LIMIT)
        stop = parse_amount(self.stop_edit.text(), "the stop price", required=kind is OrderType.STOP)
        take_profit = stop_loss = None
        if self.bracket_box.isChecked():
            take_profit = parse_amount(self.take_profit_edit.text(), "the take-profit price", required=False)
            stop_loss = parse_amount(self.stop_loss_edit.text(), "the stop-loss price", required=False)
            if take_profit is None or stop_loss is None:
                raise TicketInputError("A bracket order needs both a take-profit and a stop-loss price.")
        return TicketRequest(
            symbol=symbol,
            side=OrderSide(self.side_combo.currentData()),
            qty=qty,
            type=kind,
            time_in_force=TimeInForce(self.tif_combo.currentData()),
            limit_price=limit if kind is OrderType.LIMIT else None,
            stop_price=stop if kind is OrderType.STOP else None,
            take_profit_price=take_profit,
            stop_loss_price=stop_loss,
        )

    def submit(self) -> None:
        """Check the input here, then place the order through the ledger on a worker thread."""
        if self._sending:
            return
        try:
            request = self.build_request()
        except TicketInputError as exc:
            self.status_label.clear()
            self.show_error(str(exc))
            return
        self._set_sending(True)
        self.show_error("")
        self.status_label.setText(f"Sending {_describe(request)}…")
        self._runner.spawn(self._send(request), name="order-ticket-submit")

    # --- behaviour ---
    async def _send(self, request: TicketRequest) -> None:
        try:
            placed = await self._runner.call(self._ledger.place_order, self._user_id, request)
        except OrderRejected as exc:
            if self._alive():
                self.status_label.clear()
                self.show_error(exc.reason)  # the rule's own words, for the trader
        except LedgerError as exc:
            if self._alive():
                self.status_label.clear()
                self.show_error(str(exc))
        except Exception as exc:
            log.exception("placing an order failed")
            if self._alive():
                self.status_label.clear()
                self.show_error(f"The order could not be placed: {type(exc).__name__}: {exc}")
        else:
            if self._alive():
                self._placed(request, placed)
                self.orderPlaced.emit(placed)
        finally:
            if self._alive():
                self._set_sending(False)

    def _placed(self, request: TicketRequest, placed: PlacedOrder) -> None:
        said = _describe(request)
        text = f"{said[0].upper()}{said[1:]}: {placed.status.replace('_', ' ')}."
        if placed.message:
            text += f" {placed.message}"
        self.status_label.setText(text)
        # The quantity is cleared so Enter cannot send the same order twice; symbol, side, type and prices stay
        # for the next order of a ladder or an exit.
        self.qty_edit.clear()
        self.qty_edit.setFocus()

    def _set_sending(self, sending: bool) -> None:
        self._sending = sending
        self.submit_button.setEnabled(not sending)

    def _type_changed(self, *_: object) -> None:
        kind = OrderType(self.type_combo.currentData())
        self.limit_edit.setEnabled(kind is OrderType.LIMIT)
        self.stop_edit.setEnabled(kind is OrderType.STOP)

    def _upper_case(self, text: str) -> None:
        if text != text.upper():
            position = self.symbol_edit.cursorPosition()
            self.symbol_edit.setText(text.upper())
            self.symbol_edit.setCursorPosition(position)

    def _hide_error(self, *_: object) -> None:
        self.show_error("")

    def _alive(self) -> bool:
        return shiboken6.isValid(self)


def _describe(request: TicketRequest) -> str:
    """``buy 10 AAPL limit 95`` — the order as the trader would say it."""
    price = request.limit_price if request.type is OrderType.LIMIT else request.stop_price
    words = [request.side.value, f"{request.qty.normalize():f}", request.symbol, request.type.value]
    if price is not None:
        words.append(f"{price.normalize():f}")
    tp, sl = request.take_profit_price, request.stop_loss_price
    if tp is not None and sl is not None:
        words.append(f"with take-profit {tp.normalize():f} and stop-loss {sl.normalize():f}")
    return " ".join(words)
