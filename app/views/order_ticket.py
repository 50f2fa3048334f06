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

Before Submit, given its facts (``TicketFactsSource``: the Portfolio service), the ticket shows the symbol's price
(live, or the last stored close marked as such until live data arrives), the order's estimated cost (a sell's
proceeds) and the buying power left after it (``estimate_order``: valued as the ledger will value it). The facts
are read on a worker thread when the symbol changes and whenever ``refresh_facts`` is called (the portfolio panel
calls it after each refresh: fills, prices, a poll); the estimate follows every keystroke on the GUI thread.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent
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
from app.display_time import display_time
from app.views.real_order_dialog import RealOrderRoute
from core.db.trouble import trader_message
from core.domain.display_time import in_zone
from core.domain.money import MONEY_PLACES
from core.domain.orders import OrderSide, OrderType, TimeInForce
from core.domain.symbols import is_valid_symbol, normalize_symbol
from core.domain.tickets import InvalidTicket
from core.domain.tickets import OrderTicket as TicketRequest
from core.journal.check_types import INFO, PreTradeEvaluation
from core.ledger.prices import PriceQuote
from core.ledger.views import OrderDesk, PlacedOrder
from core.risk.rules import MAX_QTY_DECIMALS
from core.services.order_entry import (
    CheckOutcome,
    OrderEntry,
    OrderEstimate,
    PreTradeChecks,
    SendOutcome,
    TicketFacts,
    TicketFactsSource,
    describe,
    estimate_order,
)
from core.services.real_money_orders import RealMoneyOrders

log = logging.getLogger(__name__)

SIDES = (("Buy", OrderSide.BUY), ("Sell", OrderSide.SELL))
TYPES = (("Market", OrderType.MARKET), ("Limit", OrderType.LIMIT), ("Stop", OrderType.STOP))
TIFS = (("Day", TimeInForce.DAY), ("GTC", TimeInForce.GTC))
ERROR_STYLE = "color: #d32f2f;"
NUDGE_STYLE = "color: #ef6c00;"
STALE_STYLE = "color: #808080; font-style: italic;"
SYMBOL_SETTLE_MS = 300  # facts are read once the trader stops typing the symbol, not per keystroke
NO_ESTIMATE = "—"
SEVERITY_MARK = {"critical": "⛔", "warn": "⚠", "info": "\N{INFORMATION SOURCE}"}


class TicketInputError(ValueError):
    """Input that cannot be sent as an order; ``str()`` tells the trader what to fix."""


MAX_AMOUNT = Decimal("1e12")  # no quantity or price a trader types is larger; NUMERIC(20,6) holds below 1e14
MAX_TYPED = 40  # characters: anything longer is not an amount
PRICE_PLACES = -int(MONEY_PLACES.as_tuple().exponent)  # prices are stored to 6 places (NUMERIC(20,6))
# Digits (ASCII only), commas only between groups of three, one decimal point; a sign is read so "-1" is told
# "greater than zero" rather than "not a number".
NUMBER_RE = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|[+-]?\.\d+", re.ASCII)


def parse_amount(text: str, what: str, *, required: bool, max_places: int | None = None) -> Decimal | None:
    """A positive decimal typed by the trader; None when empty and optional. Every refusal is one line naming the
    field: only ASCII digits count (Decimal would read full-width ones), commas only between thousands ("1,000";
    "1,5" is refused, not read as 15), no exponent ("1e400"), no NaN or infinity, at most ``MAX_AMOUNT`` and, with
    ``max_places``, at most that many decimal places."""
    shown = text.strip()
    if not shown:
        if required:
            raise TicketInputError(f"Enter {what}.")
        return None
    field = what[0].upper() + what[1:]
    if len(shown) > MAX_TYPED:
        raise TicketInputError(f"{field} is too long to be a number ({len(shown)} characters).")
    if not NUMBER_RE.fullmatch(shown):
        hint = " (use '.' for decimals; ',' only between thousands)" if "," in shown and shown.isascii() else ""
        raise TicketInputError(f"{field} must be a number{hint}, not “{_printable(shown)}”.")
    try:
        value = Decimal(shown.replace(",", ""))
    except InvalidOperation:  # the pattern admits only what Decimal reads; kept so nothing escapes raw
        raise TicketInputError(f"{field} must be a number, not “{_printable(shown)}”.") from None
    if value <= 0:
        raise TicketInputError(f"{field} must be greater than zero.")
    if value > MAX_AMOUNT:
        raise TicketInputError(f"{field} is too large (at most {MAX_AMOUNT:,.0f}).")
    exponent = value.normalize().as_tuple().exponent  # 0.5000000000 has one place
    if max_places is not None and isinstance(exponent, int) and -exponent > max_places:
        raise TicketInputError(f"{field} has more than {max_places} decimal places.")
    return value


def parse_price(text: str, what: str, *, required: bool) -> Decimal | None:
    """A price as ``parse_amount`` reads it, with at most the places the ledger stores (a limit of 0.0000001
    would be stored as 0)."""
    return parse_amount(text, what, required=required, max_places=PRICE_PLACES)


def _printable(text: str) -> str:
    """``text`` safe to show on one line: control characters (NUL, newlines) as ``?``."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _money(value: Decimal) -> str:
    return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"


def _when(at: datetime) -> str:
    """``Fri 16:00 ET``: the weekday and time in the zone the trader chose for every view."""
    zone = display_time().zone
    return f"{in_zone(at, zone):%a %H:%M} {zone.label}"


def price_text(quote: PriceQuote | None) -> str:
    """``Last 412.55 (live)`` or ``Last close 412.30 (stored, Fri 16:00 ET)``: a stored close is never taken for
    a live price."""
    if quote is None:
        return "No price known yet"
    if quote.stale:
        return f"Last close {quote.price:,.2f} (stored, {_when(quote.as_of)})"
    return f"Last {quote.price:,.2f} (live)"


def _combo(name: str, items: tuple[tuple[str, StrEnum], ...]) -> QComboBox:
    """Items carry the enum's value (Qt hands a str subclass back as a plain str)."""
    combo = QComboBox(objectName=name)
    for text, value in items:
        combo.addItem(text, value.value)
    return combo


def _value_label(name: str) -> QLabel:
    label = QLabel(NO_ESTIMATE, objectName=name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


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
        facts: TicketFactsSource | None = None,
        real_orders: RealMoneyOrders | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("orderTicket")
        self.setWindowTitle("New order")
        self._entry = OrderEntry(orders, checks)
        self._facts_source = facts
        self._facts: TicketFacts | None = None
        self._facts_generation = 0  # an answer for a symbol the trader already left is dropped
        self.estimate: OrderEstimate | None = None
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
        # Paper (virtual) is the default; a linked real account goes through the named confirmation.
        self.real_route = RealOrderRoute(real_orders, user_id, runner, self) if real_orders is not None else None
        if self.real_route is not None:
            form.addRow("Account", self.real_route.selector)
            self.real_route.refresh()
        form.addRow("Symbol", self.symbol_edit)
        form.addRow("Side", self.side_combo)
        form.addRow("Quantity", self.qty_edit)
        form.addRow("Type", self.type_combo)
        form.addRow("Limit price", self.limit_edit)
        form.addRow("Stop price", self.stop_edit)
        form.addRow("Time in force", self.tif_combo)
        self.price_label = _value_label("ticketPrice")
        self.amount_caption = QLabel("Estimated cost")
        self.amount_label = _value_label("ticketCost")
        self.buying_power_label = _value_label("ticketBuyingPower")
        if facts is not None:
            form.addRow("Price", self.price_label)
            form.addRow(self.amount_caption, self.amount_label)
            form.addRow("Buying power after", self.buying_power_label)
        else:  # nothing to show them from: kept (owned, hidden) so the code needs no special case
            for label in (self.price_label, self.amount_caption, self.amount_label, self.buying_power_label):
                label.setParent(self)
                label.hide()
        self._symbol_settled = QTimer(self, singleShot=True, interval=SYMBOL_SETTLE_MS)
        self._symbol_settled.timeout.connect(self.refresh_facts)

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
            edit.textChanged.connect(self._show_estimate)
        for combo in self.findChildren(QComboBox):
            combo.activated.connect(self._order_changed)
            combo.currentIndexChanged.connect(self._show_estimate)
        self.bracket_box.toggled.connect(self._order_changed)
        self.symbol_edit.textChanged.connect(self._symbol_changed)
        self._type_changed()
        self.set_symbol(symbol)
        self._show_estimate()

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
        self.refresh_facts()

    def account_refreshed(self, *_: object) -> None:
        """The account or prices changed (the portfolio panel refreshed): read the facts again while shown."""
        if self.isVisible() and not self._symbol_settled.isActive():
            self.refresh_facts()

    @property
    def facts(self) -> TicketFacts | None:
        """The price, buying power and position last read for the ticket's symbol (None before the first read)."""
        return self._facts

    def refresh_facts(self) -> None:
        """Read the symbol's price and the trader's buying power again, on a worker thread (no facts source, or no
        valid symbol: nothing to read). Call it when prices or the account change."""
        self._symbol_settled.stop()
        symbol = normalize_symbol(self.symbol_edit.text())
        if self._facts_source is None:
            return
        self._facts_generation += 1
        if not is_valid_symbol(symbol):
            self._facts = None
            self._show_estimate()
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # the app's loop has stopped (it is closing): nothing would show the answer
        self._runner.spawn(self._read_facts(self._facts_generation, symbol), name="order-ticket-facts")

    def hideEvent(self, event: QHideEvent) -> None:
        self._symbol_settled.stop()
        super().hideEvent(event)

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
            shown = _printable(symbol if len(symbol) <= MAX_TYPED else symbol[:MAX_TYPED] + "…")
            raise TicketInputError(f"“{shown}” is not a ticker symbol (letters, digits, '.' or '-').")
        qty = parse_amount(self.qty_edit.text(), "the quantity", required=True, max_places=MAX_QTY_DECIMALS)
        assert qty is not None
        kind = OrderType(self.type_combo.currentData())
        limit = parse_price(self.limit_edit.text(), "the limit price", required=kind is OrderType.LIMIT)
        stop = parse_price(self.stop_edit.text(), "the stop price", required=kind is OrderType.STOP)
        take_profit = stop_loss = None
        if self.bracket_box.isChecked():
            take_profit = parse_price(self.take_profit_edit.text(), "the take-profit price", required=False)
            stop_loss = parse_price(self.stop_loss_edit.text(), "the stop-loss price", required=False)
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
        if self.real_route is not None and self.real_route.selected():
            self.real_route.submit()
            return
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
    async def _read_facts(self, generation: int, symbol: str) -> None:
        source = self._facts_source
        assert source is not None
        try:
            facts: TicketFacts = await self._runner.call(source.ticket_facts, self._user_id, symbol)
        except Exception as exc:  # the database is away, the account is gone: one line, the details in the log
            log.warning("reading the order ticket's price and buying power failed", exc_info=True)
            if self._alive() and generation == self._facts_generation:
                self._facts = None
                self._show_estimate(trouble=trader_message(exc))
            return
        if self._alive() and generation == self._facts_generation:
            self._facts = facts
            self._show_estimate()

    def _symbol_changed(self, *_: object) -> None:
        """The symbol's facts no longer apply; read the new ones once the trader stops typing."""
        if self._facts is not None and self._facts.symbol != normalize_symbol(self.symbol_edit.text()):
            self._facts = None
            self._show_estimate()
        self._symbol_settled.start()

    def _draft(self) -> TicketRequest | None:
        """The order as typed when it is one (no error shown: the estimate follows typing, Submit says what's wrong)."""
        try:
            return self.build_request()
        except (TicketInputError, InvalidTicket):
            return None

    def _show_estimate(self, *_: object, trouble: str = "") -> None:
        """Price, estimated cost (or proceeds) and buying power after the order, from the last facts read."""
        if self._facts_source is None:
            return
        side = OrderSide(self.side_combo.currentData())
        self.amount_caption.setText("Estimated proceeds" if side is OrderSide.SELL else "Estimated cost")
        facts = self._facts
        quote = facts.quote if facts is not None else None
        if trouble:
            self.price_label.setText(trouble)
            self.price_label.setStyleSheet(ERROR_STYLE)
            self.price_label.setToolTip("")
        elif facts is None:
            self.price_label.setText(NO_ESTIMATE)
            self.price_label.setStyleSheet("")
            self.price_label.setToolTip("")
        else:
            self.price_label.setText(price_text(quote))
            self.price_label.setStyleSheet(STALE_STYLE if quote is None or quote.stale else "")
            self.price_label.setToolTip(
                f"Last stored close, {_when(quote.as_of)}; live data not yet received." if quote and quote.stale else ""
            )
        draft = self._draft()
        self.estimate = estimate_order(draft, facts) if draft is not None and facts is not None else None
        estimate = self.estimate
        if estimate is None or estimate.amount is None or estimate.held is None:
            self.amount_label.setText(NO_ESTIMATE)
            self.amount_label.setToolTip("")
        else:
            at = "" if draft is None or draft.type is OrderType.MARKET else f" at {estimate.price:,.2f}"
            self.amount_label.setText(f"{_money(estimate.amount)}{at}")
            self.amount_label.setToolTip(
                f"Holds {_money(estimate.held)} of your buying power until it fills." if estimate.held else ""
            )
        if facts is None:
            self.buying_power_label.setText(NO_ESTIMATE)
        elif estimate is None or estimate.buying_power_after is None:
            self.buying_power_label.setText(f"{_money(facts.buying_power)} now")
        else:
            after = estimate.buying_power_after
            self.buying_power_label.setText(f"{_money(after)} of {_money(facts.buying_power)}")
        short = estimate is not None and estimate.buying_power_after is not None and estimate.buying_power_after < 0
        self.buying_power_label.setStyleSheet(ERROR_STYLE if short else "")

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
            outcome = SendOutcome(None, f"The order could not be placed: {trader_message(exc)}")
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
        self.refresh_facts()  # the order holds buying power now

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
