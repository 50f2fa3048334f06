"""The manual order ticket: a trader types an order, the ledger decides.

The ticket only catches input that cannot be an order at all (no symbol, a quantity that is not a positive
number, a limit order without its price) so the trader hears about typos at once. Everything about whether
the order is *allowed* (fractional shares, funds, max order value and the other risk rules, the broker's
answer) is the ledger's call: its reason is shown verbatim in red and nothing else happens. The ledger runs on
a worker thread, so a slow broker never freezes the window, and Submit is disabled while one order is in
flight (a double click cannot send two).

With behavioural checks composed in (``TicketChecks``), Submit first asks them on a worker thread. Failed
warnings and critical checks are shown above the buttons with "Send anyway" and "Don't send"; changing the
order instead counts as "modified" and the next Submit asks again. What the trader did is recorded with the
checks. An info-level nudge is shown but does not hold the order; a check that cannot run (no price known yet)
never holds it back either: the checks advise, the ledger's risk rules decide.

That workflow (check, place, record the answer) is ``core.services.order_entry.OrderEntry``; the ticket only
collects the order, asks the question an outcome calls for, and shows what comes back.
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
from core.domain.orders import OrderSide, OrderType, TimeInForce
from core.domain.symbols import is_valid_symbol, normalize_symbol
from core.domain.tickets import OrderTicket as TicketRequest
from core.journal.check_types import INFO, PreTradeEvaluation
from core.ledger.views import OrderDesk, PlacedOrder
from core.services.order_entry import CheckOutcome, OrderEntry, PreTradeChecks, SendOutcome, describe

log = logging.getLogger(__name__)

SIDES = (("Buy", OrderSide.BUY), ("Sell", OrderSide.SELL))
TYPES = (("Market", OrderType.MARKET), ("Limit", OrderType.LIMIT), ("Stop", OrderType.STOP))
TIFS = (("Day", TimeInForce.DAY), ("GTC", TimeInForce.GTC))
ERROR_STYLE = "color: #d32f2f;"
NUDGE_STYLE = "color: #ef6c00;"
SEVERITY_MARK = {"critical": "⛔", "warn": "⚠", "info": "\N{INFORMATION SOURCE}"}


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
        orders: OrderDesk,
        user_id: uuid.UUID,
        runner: BlockingRunner,
        symbol: str = "",
        parent: QWidget | None = None,
        *,
        checks: PreTradeChecks | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("orderTicket")
        self.setWindowTitle("New order")
        self._entry = OrderEntry(orders, checks)
        self._user_id = user_id
        self._runner = runner
        self._sending = False
        # The order the trader was nudged about and the checks' verdict, until they answer.
        self._pending: tuple[TicketRequest, PreTradeEvaluation] | None = None

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
        self.checks_box = QGroupBox("Before you send", objectName="ticketChecks")
        self.nudge_label = QLabel(objectName="ticketNudges", wordWrap=True)
        self.nudge_label.setTextFormat(Qt.TextFormat.PlainText)
        self.nudge_label.setStyleSheet(NUDGE_STYLE)
        self.nudge_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.send_anyway_button = QPushButton("Send anyway", objectName="ticketSendAnyway")
        self.send_anyway_button.setAutoDefault(False)
        self.send_anyway_button.clicked.connect(self.send_anyway)
        self.dont_send_button = QPushButton("Don't send", objectName="ticketDontSend")
        self.dont_send_button.setAutoDefault(False)
        self.dont_send_button.clicked.connect(self.dont_send)
        answer = QHBoxLayout()
        answer.addStretch(1)
        answer.addWidget(self.dont_send_button)
        answer.addWidget(self.send_anyway_button)
        nudges = QVBoxLayout(self.checks_box)
        nudges.addWidget(self.nudge_label)
        nudges.addLayout(answer)
        self.checks_box.hide()
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
        layout.addWidget(self.checks_box)
        layout.addWidget(self.error_label)
        layout.addWidget(self.status_label)
        layout.addLayout(buttons)
        for edit in self.findChildren(QLineEdit):
            edit.textEdited.connect(self._hide_error)
            edit.textEdited.connect(self._order_changed)
        for combo in self.findChildren(QComboBox):
            combo.activated.connect(self._order_changed)
        self.bracket_box.toggled.connect(self._order_changed)
        self._type_changed()
        self.set_symbol(symbol)

    # --- public ---
    @property
    def sending(self) -> bool:
        return self._sending

    @property
    def pending_evaluation(self) -> PreTradeEvaluation | None:
        """The checks' verdict the trader has not answered yet (None when nothing is waiting)."""
        return self._pending[1] if self._pending is not None else None

    def set_symbol(self, symbol: str) -> None:
        self.symbol_edit.setText(normalize_symbol(symbol))

    def show_error(self, message: str) -> None:
        """Red text under the form (empty hides it)."""
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))

    def build_request(self) -> TicketRequest:
        """The order as typed; raises TicketInputError for input that cannot be an order."""
        symbol = normalize_symbol(self.symbol_edit.text())
        if not symbol:
            raise TicketInputError("Enter a symbol.")
        if not is_valid_symbol(symbol):
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
        """Check the input here, then (after the behavioural checks, when composed in) place the order through
        the ledger on a worker thread."""
        if self._sending or self._pending is not None:
            return  # one order in flight, or nudges waiting for "Send anyway" / "Don't send"
        try:
            request = self.build_request()
        except TicketInputError as exc:
            self.status_label.clear()
            self.show_error(str(exc))
            return
        self._set_sending(True)
        self.show_error("")
        if not self._entry.checks_enabled:
            self._start_send(request, None)
            return
        self.status_label.setText(f"Checking {describe(request)} against your trading rules…")
        self._runner.spawn(self._check(request), name="order-ticket-checks")

    def send_anyway(self) -> None:
        """The trader read the nudges and sends the order as it is."""
        if self._pending is None or self._sending:
            return
        request, evaluation = self._pending
        self._clear_nudges()
        self._set_sending(True)
        self._start_send(request, evaluation)

    def dont_send(self) -> None:
        """The trader took the nudge: nothing is sent, and that is recorded."""
        if self._pending is None:
            return
        _request, evaluation = self._pending
        self._clear_nudges()
        self._answer(evaluation, "cancelled")
        self.status_label.setText("Not sent.")

    # --- behaviour ---
    async def _check(self, request: TicketRequest) -> None:
        outcome: CheckOutcome = await self._runner.call(self._entry.check, self._user_id, request)
        if not self._alive():
            return
        if not outcome.ask:
            notes = " ".join(f"{SEVERITY_MARK[INFO]} {text}" for text in outcome.info)
            self._start_send(request, outcome.evaluation, note=outcome.skipped or notes or None)
            return
        assert outcome.evaluation is not None
        self._pending = (request, outcome.evaluation)
        self._set_sending(False)
        self.nudge_label.setText("\n".join(f"{SEVERITY_MARK.get(n.severity, '•')} {n.text}" for n in outcome.nudges))
        self.checks_box.show()
        said = describe(request)
        self.status_label.setText(f"{said[0].upper()}{said[1:]}: not sent yet.")
        self.dont_send_button.setFocus()

    def _start_send(
        self, request: TicketRequest, evaluation: PreTradeEvaluation | None, note: str | None = None
    ) -> None:
        said = f"Sending {describe(request)}…"
        self.status_label.setText(f"{said} {note}" if note else said)
        self._runner.spawn(self._send(request, evaluation), name="order-ticket-submit")

    async def _send(self, request: TicketRequest, evaluation: PreTradeEvaluation | None = None) -> None:
        try:
            outcome: SendOutcome = await self._runner.call(self._entry.send, self._user_id, request, evaluation)
        except Exception as exc:  # the service answers in values; this is the runner itself failing
            log.exception("placing an order failed")
            outcome = SendOutcome(None, f"The order could not be placed: {type(exc).__name__}: {exc}")
        if not self._alive():
            return
        try:
            if outcome.placed is None:
                self.status_label.clear()
                self.show_error(outcome.error or "")  # a risk rule's own words, for the trader
            else:
                self._placed(request, outcome.placed)
                self.orderPlaced.emit(outcome.placed)
        finally:
            if self._alive():
                self._set_sending(False)

    def _placed(self, request: TicketRequest, placed: PlacedOrder) -> None:
        said = describe(request)
        text = f"{said[0].upper()}{said[1:]}: {placed.status.replace('_', ' ')}."
        if placed.message:
            text += f" {placed.message}"
        self.status_label.setText(text)
        # The quantity is cleared so Enter cannot send the same order twice; symbol, side, type and prices stay
        # for the next order of a ladder or an exit.
        self.qty_edit.clear()
        self.qty_edit.setFocus()

    def _answer(self, evaluation: PreTradeEvaluation, action: str) -> None:
        """Store the trader's answer on a worker thread; a failure is logged (nothing waits for it)."""
        entry, user_id = self._entry, self._user_id

        async def record() -> None:
            try:
                await self._runner.call(entry.answer, user_id, evaluation, action)
            except Exception:
                log.exception("recording the trader's answer to the pre-trade checks failed")

        self._runner.spawn(record(), name="order-ticket-record-checks")

    def _order_changed(self, *_: object) -> None:
        """Editing the order after the nudges: recorded as "modified"; the next Submit asks again."""
        if self._pending is None:
            return
        _request, evaluation = self._pending
        self._clear_nudges()
        self._answer(evaluation, "modified")
        self.status_label.setText("Order changed: Submit checks it again.")

    def _clear_nudges(self) -> None:
        self._pending = None
        self.checks_box.hide()
        self.nudge_label.clear()

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
