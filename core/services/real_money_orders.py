"""Orders to a trader's own brokerage account: real money, so never by accident.

Paper is the default everywhere; an order reaches a linked Zerodha, Angel One or ICICI Direct account only through
two steps, and the second one names the account:

1. ``preview(user, link, ticket)``: the instrument's own rules first (tradable, whole lots, prices on the tick
   grid), then the risk chain against the REAL account's state read from the broker (its funds, its positions and
   open orders; never the virtual ledger), with the trader's own limits. What passes becomes an
   ``OrderConfirmation``: the broker, the account's label and its broker-side id, the exact order (side, quantity,
   ``NSE:`` symbol, type, prices, product, validity), an expiry (60 s) and a one-time token.
2. ``place(confirmation, acknowledged_label)``: refused unless the confirmation is the one issued (unchanged),
   unexpired and unused, and the trader typed the account's label. The checks run again on the account's state at
   that moment (a minute is long enough for a fill elsewhere), and only then is the order sent.

Fills reported by the broker's update channel are booked into ``fills`` as ``source = 'broker_synced'`` rows
(currency INR, the broker's name, the link's id), exactly once per execution however often the broker repeats it
(``ON CONFLICT (user_id, execution_id) DO NOTHING``), and the user's ledger channel is NOTIFYed as for a ledger
fill, so the journal follower groups them at once. They never touch the virtual account: the ledger's cash,
positions and limits read only ``source = 'ledger'`` fills. In a club the trader's own role writes them
(row-level security's ``trader_import`` policy: not a ledger fill, no order id, the trader's own connection row).

The risk rules (``core.risk``) were written for the virtual account: the chain here is composed explicitly from
``default_chain()``'s rules less its US-ticker rule (``SymbolAndQuantity``), whose place the instrument checks take,
and a refusal's amounts are shown in rupees. The trader's limits are read as amounts in the account's own
currency: StratForge has no exchange rate, and a limit that is stricter than meant is the safe mistake.

Every method blocks on the broker and the database: the GUI calls them on a worker thread.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from core.accounts.risk_settings import load_risk_limits
from core.broker.errors import BrokerError, BrokerRejected, BrokerUnavailable, NotPlaced, SessionExpired
from core.db.models import Fill
from core.domain.clock import utc_now
from core.domain.money import money, reference_price, reservation
from core.domain.orders import (
    Account,
    Asset,
    BrokerOrder,
    BrokerPosition,
    OrderEvent,
    OrderEventType,
    OrderRequest,
    OrderSide,
    OrderType,
    TimeInForce,
)
from core.domain.risk_limits import RiskLimits
from core.domain.symbols import normalize_symbol
from core.domain.tickets import InvalidTicket, OrderTicket, ticket_amount
from core.ledger.service import ledger_channel
from core.market.india import IndianInstrument, IndianSymbol, InstrumentError
from core.risk.chain import RiskChain, default_chain
from core.risk.context import RecentOrder, RiskContext, short_part
from core.risk.rules import RiskRule, SymbolAndQuantity
from core.services.broker_accounts import BrokerAccountError, BrokerAccounts, LinkedAccount, LoginNeeded, OpenedLink

log = logging.getLogger(__name__)

CONFIRMATION_TTL = timedelta(seconds=60)
SYNCED_SOURCE = "broker_synced"
CURRENCY = "INR"
DEFAULT_PRODUCT = "CNC"  # delivery: what the adapters send when the link names no product (Breeze calls it cash)
REAL_TIME_IN_FORCE = (TimeInForce.DAY, TimeInForce.IOC)  # what the Indian exchanges take through these APIs
DEFAULT_TICK = Decimal("0.01")  # when a broker's asset does not say: the finest NSE/BSE grid, refusing nothing valid
MAX_EXECUTION_ID = 255  # fills.execution_id is VARCHAR(255)
MAX_FILL_SYMBOL = 20  # fills.symbol is VARCHAR(20)
_FILL_EVENTS = (OrderEventType.PARTIAL_FILL, OrderEventType.FILL)


class RealOrderRefused(BrokerAccountError):
    """The order was not sent (a rule, the confirmation, the typed label or the broker refused it); str() says why."""


class RealOrderUnknown(BrokerAccountError):
    """The broker did not answer the placement: the order may exist. The trader checks the broker's order book."""


@dataclass(frozen=True)
class RealOrderTicket:
    """An order for an Indian account as typed: ``NSE:``/``BSE:`` symbol, whole quantity, DAY or IOC.

    A ticket that exists is well-formed (the prices its type needs, positive finite amounts); whether the exchange
    and the trader's limits allow it is the preview's judgement."""

    symbol: IndianSymbol
    side: OrderSide
    qty: Decimal
    type: OrderType = OrderType.MARKET
    time_in_force: TimeInForce = TimeInForce.DAY
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalising is part of construction
        if not isinstance(self.symbol, IndianSymbol):
            set_(self, "symbol", _symbol(self.symbol))
        try:
            set_(self, "side", OrderSide(self.side))
            set_(self, "type", OrderType(self.type))
            set_(self, "time_in_force", TimeInForce(self.time_in_force))
        except ValueError as exc:
            raise RealOrderRefused(f"Not an order: {exc}.") from None
        set_(self, "qty", _amount(self.qty, "quantity"))
        for name in ("limit_price", "stop_price"):
            value = getattr(self, name)
            if value is not None:
                set_(self, name, _amount(value, name.replace("_", " ")))
        if self.time_in_force not in REAL_TIME_IN_FORCE:
            raise RealOrderRefused("Orders to an Indian broker account are DAY or IOC.")
        if self.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and self.limit_price is None:
            raise RealOrderRefused(f"A {_type_text(self.type)} order needs a limit price.")
        if self.type in (OrderType.STOP, OrderType.STOP_LIMIT) and self.stop_price is None:
            raise RealOrderRefused(f"A {_type_text(self.type)} order needs a trigger price.")
        if self.type in (OrderType.MARKET, OrderType.STOP) and self.limit_price is not None:
            set_(self, "limit_price", None)
        if self.type in (OrderType.MARKET, OrderType.LIMIT) and self.stop_price is not None:
            set_(self, "stop_price", None)

    @classmethod
    def parse(
        cls,
        symbol: str,
        side: str,
        qty: str | Decimal,
        type: str = OrderType.MARKET.value,
        *,
        time_in_force: str = TimeInForce.DAY.value,
        limit_price: str | Decimal | None = None,
        stop_price: str | Decimal | None = None,
    ) -> RealOrderTicket:
        """A ticket from what a form holds (text); RealOrderRefused names the field that cannot be part of one."""
        values: dict[str, Any] = {
            "symbol": _symbol(symbol),
            "side": side,
            "qty": qty,
            "type": type,
            "time_in_force": time_in_force,
            "limit_price": limit_price or None,
            "stop_price": stop_price or None,
        }
        return cls(**values)

    def describe(self) -> str:
        """``BUY 10 NSE:INFY · LIMIT ₹1,500.05 · DAY``: the order as the confirmation names it."""
        words = [f"{self.side.value.upper()} {self.qty.normalize():f} {self.symbol}", _type_text(self.type).upper()]
        if self.limit_price is not None:
            words[-1] += f" {rupees(self.limit_price)}"
        if self.stop_price is not None:
            words[-1] += f" (trigger {rupees(self.stop_price)})"
        words.append(self.time_in_force.value.upper())
        return " · ".join(words)


@dataclass(frozen=True)
class OrderConfirmation:
    """What the trader confirms: the account (broker, label, the broker's own id) and the exact order.

    Valid once, until ``expires_at``, and only for the trader who asked; ``token`` identifies it (kept out of reprs
    and logs). ``place`` compares the whole value with the one it issued, so an edited copy is refused."""

    user_id: uuid.UUID
    link_id: uuid.UUID
    broker: str
    broker_name: str
    account_label: str
    broker_account_id: str
    order: RealOrderTicket
    product: str
    reference_price: Decimal | None  # the price the checks valued it at (its limit/trigger, else the last known)
    estimated_value: Decimal | None
    created_at: datetime
    expires_at: datetime
    token: str = field(repr=False)

    def account_text(self) -> str:
        """``Zerodha (Kite Connect) · 'Kite main' · account ZX1234``"""
        return f"{self.broker_name} · {self.account_label!r} · account {self.broker_account_id}"

    def order_text(self) -> str:
        """``BUY 10 NSE:INFY · LIMIT ₹1,500.05 · DAY · product CNC``"""
        return f"{self.order.describe()} · product {self.product}"

    def seconds_left(self, now: datetime) -> float:
        return max((self.expires_at - now).total_seconds(), 0.0)


@dataclass(frozen=True)
class RealOrderPlaced:
    broker_order_id: str
    client_order_id: str
    status: str
    message: str  # ``BUY 10 NSE:INFY … sent to Zerodha account 'Kite main': new.``


def rupees(value: Decimal) -> str:
    return f"-₹{-value:,.2f}" if value < 0 else f"₹{value:,.2f}"


def _type_text(kind: OrderType) -> str:
    return {"market": "market", "limit": "limit", "stop": "stop-loss market", "stop_limit": "stop-loss limit"}[
        kind.value
    ]


def _symbol(value: object) -> IndianSymbol:
    if not isinstance(value, str):
        raise RealOrderRefused("The symbol must be text, e.g. NSE:INFY.")
    try:
        return IndianSymbol.parse(value)
    except InstrumentError as exc:
        raise RealOrderRefused(str(exc)) from None


def _amount(value: object, what: str) -> Decimal:
    try:
        amount = ticket_amount(value, what)
    except InvalidTicket as exc:
        raise RealOrderRefused(f"{str(exc)[0].upper()}{str(exc)[1:]}.") from None
    if amount <= 0:
        raise RealOrderRefused(f"The {what} must be greater than zero.")
    return amount


def in_rupees(reason: str) -> str:
    """A risk rule's reason for a real account: its amounts in rupees, its funds not called virtual (the rules
    format dollars for the virtual account; the numbers themselves are the account's own)."""
    return reason.replace("-$", "-₹").replace("$", "₹").replace("virtual funds", "funds in this account")


def real_money_rules() -> tuple[RiskRule, ...]:
    """The default chain's rules, in its order, less the US-ticker rule: an ``NSE:`` symbol is judged by the
    instrument's own checks, which run before the chain."""
    return tuple(rule for rule in default_chain().rules if not isinstance(rule, SymbolAndQuantity))


def instrument_of(symbol: IndianSymbol, asset: Asset) -> IndianInstrument:
    """The instrument as the broker's asset describes it (the adapters put ``tick_size`` and ``lot_size`` in
    ``Asset.extra`` from their instrument master)."""
    extra = asset.extra or {}
    try:
        tick = Decimal(str(extra.get("tick_size") or DEFAULT_TICK))
        lot = int(str(extra.get("lot_size") or 1))
        return IndianInstrument(symbol, str(extra.get("token", "")), tick, lot)
    except (ArithmeticError, ValueError) as exc:
        raise RealOrderRefused(f"The broker describes {symbol} in a way StratForge cannot check ({exc}).") from None


def execution_key(broker: str, execution_id: str) -> str:
    """The fill's stored execution id: the broker's id under the broker's name (the adapters already prefix it),
    hashed when too long for the column. The same execution always gives the same key: booking stays once."""
    key = execution_id if execution_id.startswith(f"{broker}:") else f"{broker}:{execution_id}"
    if len(key) > MAX_EXECUTION_ID:
        key = f"{broker}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    return key


@dataclass(frozen=True)
class _AccountState:
    account: Account
    asset: Asset
    position: BrokerPosition | None
    open_orders: tuple[BrokerOrder, ...]


class RealMoneyOrders:
    """Previews, confirms and places orders on linked real accounts, and books their fills; one per app."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        accounts: BrokerAccounts,
        *,
        rules: Sequence[RiskRule] | None = None,
        limits: Callable[[uuid.UUID], RiskLimits] | None = None,
        last_price: Callable[[IndianSymbol], Decimal | None] | None = None,
        clock: Callable[[], datetime] = utc_now,
        ttl: timedelta = CONFIRMATION_TTL,
    ) -> None:
        self._sessions = sessions
        self._accounts = accounts
        self._chain = RiskChain(real_money_rules() if rules is None else rules)
        self._limits = limits or partial(load_risk_limits, sessions)
        self._last_price = last_price or (lambda _symbol: None)
        self._clock = clock
        self._ttl = ttl
        self._lock = threading.Lock()
        self._opened: dict[uuid.UUID, OpenedLink] = {}
        self._handlers: dict[uuid.UUID, Callable[[OrderEvent], object]] = {}
        self._pending: dict[str, OrderConfirmation] = {}
        self._recent: dict[uuid.UUID, list[RecentOrder]] = {}
        accounts.add_removal_listener(self._forget)  # an unlinked account stops booking at once

    def now(self) -> datetime:
        """The clock confirmations expire by (a dialog's countdown reads the same one)."""
        return self._clock()

    def linked_accounts(self, user_id: uuid.UUID) -> list[LinkedAccount]:
        """The trader's real accounts an order ticket may offer beside paper (blocking: a worker thread)."""
        return self._accounts.list(user_id)

    def follow(self, user_id: uuid.UUID) -> list[str]:
        """Open every logged-in linked account, so their fills are booked from now on (the app calls it after
        log-in, on a worker thread; the adapters also report the day's earlier fills, booked once). Returns one
        line per account that could not be opened (its session ended, the broker did not answer)."""
        problems = []
        for account in self._accounts.list(user_id):
            if not account.logged_in:
                continue
            try:
                self._open(user_id, account.id)
            except BrokerAccountError as exc:
                problems.append(str(exc))
        return problems

    # ----- the two steps -----------------------------------------------------------------------------

    def preview(self, user_id: uuid.UUID, link_id: uuid.UUID, ticket: RealOrderTicket) -> OrderConfirmation:
        """Check ``ticket`` against the instrument and the account's real state; the confirmation to show."""
        opened = self._open(user_id, link_id)
        state = self._state(user_id, opened, ticket)
        if opened.account.broker_account_id != state.account.id:
            self._accounts.remember_account_id(user_id, link_id, state.account.id)
        ref, value = self._check(user_id, opened, ticket, state)
        now = self._clock()
        confirmation = OrderConfirmation(
            user_id=user_id,
            link_id=link_id,
            broker=opened.account.broker,
            broker_name=opened.account.broker_name,
            account_label=opened.account.label,
            broker_account_id=state.account.id,
            order=ticket,
            product=self._product(opened, state.asset),
            reference_price=ref,
            estimated_value=value,
            created_at=now,
            expires_at=now + self._ttl,
            token=secrets.token_urlsafe(24),
        )
        with self._lock:
            self._pending = {t: c for t, c in self._pending.items() if c.expires_at > now}
            self._pending[confirmation.token] = confirmation
        return confirmation

    def place(self, confirmation: OrderConfirmation, acknowledged_label: str) -> RealOrderPlaced:
        """Send the confirmed order, once; refused (nothing sent) unless everything still holds."""
        self._redeem(confirmation, acknowledged_label)
        user_id, link_id, ticket = confirmation.user_id, confirmation.link_id, confirmation.order
        opened = self._open(user_id, link_id)
        if opened.account.label != confirmation.account_label or opened.account.broker != confirmation.broker:
            raise RealOrderRefused("The account changed since you confirmed; review the order again.")
        state = self._state(user_id, opened, ticket)
        if state.account.id != confirmation.broker_account_id:
            raise RealOrderRefused(
                f"{opened.account.label!r} now opens broker account {state.account.id}, not the "
                f"{confirmation.broker_account_id} you confirmed; nothing was sent."
            )
        self._check(user_id, opened, ticket, state)
        client_order_id = f"sf{uuid.uuid4().hex[:18]}"
        request = OrderRequest(
            client_order_id=client_order_id,
            symbol=str(ticket.symbol),
            side=ticket.side,
            qty=ticket.qty,
            type=ticket.type,
            time_in_force=ticket.time_in_force,
            limit_price=ticket.limit_price,
            stop_price=ticket.stop_price,
        )
        name = f"{opened.account.broker_name} account {opened.account.label!r}"
        try:
            order = opened.broker.submit_order(request)
        except SessionExpired:
            self._session_ended(user_id, opened)
            raise LoginNeeded(
                f"Your {opened.account.broker_name} session for {opened.account.label!r} has ended; nothing was "
                "sent. Log in again in Settings > Broker accounts."
            ) from None
        except (BrokerRejected, NotPlaced) as exc:
            raise RealOrderRefused(f"{opened.account.broker_name} refused the order: {exc}") from None
        except BrokerUnavailable as exc:
            log.warning("placing a real-money order: the broker did not answer", exc_info=True)
            raise RealOrderUnknown(
                f"{opened.account.broker_name} did not answer ({exc}): the order may have been placed. Check the "
                f"order book of {name} before trying again."
            ) from None
        except BrokerError as exc:
            raise RealOrderRefused(f"{opened.account.broker_name} refused the order: {exc}") from None
        with self._lock:
            self._recent.setdefault(link_id, []).append(
                RecentOrder(
                    normalize_symbol(str(ticket.symbol)),  # as the risk ticket spells it, for the duplicate rule
                    ticket.side.value,
                    ticket.qty,
                    ticket.type.value,
                    ticket.limit_price,
                    ticket.stop_price,
                    self._clock(),
                )
            )
        status = order.status.value.replace("_", " ")
        return RealOrderPlaced(
            order.id, client_order_id, order.status.value, f"{ticket.describe()} sent to {name}: {status}."
        )

    def cancel_confirmation(self, confirmation: OrderConfirmation) -> None:
        """The trader closed the confirmation without sending: its token is spent."""
        with self._lock:
            self._pending.pop(confirmation.token, None)

    # ----- fills -------------------------------------------------------------------------------------

    def book_fill(self, user_id: uuid.UUID, link_id: uuid.UUID, broker: str, event: OrderEvent) -> bool:
        """Book one execution of a linked account into ``fills``; True when it was new, False for a repeat or an
        event that is not a fill. The virtual account is never touched."""
        if event.type not in _FILL_EVENTS or not event.execution_id or event.qty is None or event.price is None:
            return False
        if event.qty <= 0 or event.price <= 0:
            log.warning("%s reported a fill without a positive quantity and price; not booked", broker)
            return False
        symbol = event.order.symbol
        venue = None
        if ":" in symbol:
            venue = symbol.split(":", 1)[0]
        if len(symbol) > MAX_FILL_SYMBOL:  # a derivative's long symbol: stored without its exchange (kept in venue)
            symbol = symbol.split(":", 1)[-1]
            if len(symbol) > MAX_FILL_SYMBOL:
                log.warning("%s fill of %s: symbol too long for the journal; not booked", broker, symbol)
                return False
        row: dict[str, Any] = {
            "id": uuid.uuid4(),
            "user_id": user_id,
            "broker_connection_id": link_id,
            "execution_id": execution_key(broker, event.execution_id),
            "broker_order_id": event.order.id[:255],
            "symbol": symbol,
            "side": event.order.side.value,
            "quantity": event.qty,
            "price": money(event.price),
            "fees": money(event.fee),
            "executed_at": event.timestamp,
            "broker": broker,
            "currency": CURRENCY,
            "venue": venue,
            "source": SYNCED_SOURCE,
            "raw_data": {"client_order_id": event.order.client_order_id, "event": event.type.value},
        }
        stmt = (
            insert(Fill)
            .values(**row)
            .on_conflict_do_nothing(index_elements=[Fill.user_id, Fill.execution_id])
            .returning(Fill.id)
        )
        with self._sessions() as s:
            inserted = s.execute(stmt).first() is not None
            if inserted:  # at commit: the app's journal follower and portfolio refresh as after a ledger fill
                s.execute(select(func.pg_notify(ledger_channel(user_id), str(user_id))))
            s.commit()
        return inserted

    def close(self) -> None:
        """Stop listening to every opened account and close their brokers."""
        with self._lock:
            opened, self._opened = self._opened, {}
            handlers, self._handlers = self._handlers, {}
        for link_id, link in opened.items():
            handler = handlers.get(link_id)
            if handler is not None:
                link.broker.remove_event_handler(handler)
            link.close()

    # ----- internals ---------------------------------------------------------------------------------

    def _redeem(self, confirmation: OrderConfirmation, acknowledged_label: str) -> None:
        """Spend the confirmation's token, or refuse; a mistyped label leaves it for another try."""
        now = self._clock()
        with self._lock:
            issued = self._pending.get(confirmation.token)
            if issued is None:
                raise RealOrderRefused("This confirmation was already used or has ended; review the order again.")
            if issued != confirmation:
                del self._pending[confirmation.token]
                raise RealOrderRefused("The order differs from the one you reviewed; nothing was sent.")
            if now >= issued.expires_at:
                del self._pending[confirmation.token]
                raise RealOrderRefused(
                    f"The confirmation expired after {int(self._ttl.total_seconds())} s; review the order again."
                )
            if not isinstance(acknowledged_label, str) or acknowledged_label.strip() != issued.account_label:
                raise RealOrderRefused(
                    f"Type the account's name, {issued.account_label!r}, exactly to send this real-money order."
                )
            del self._pending[confirmation.token]

    def _open(self, user_id: uuid.UUID, link_id: uuid.UUID) -> OpenedLink:
        """The link's broker, opened once per session and kept (its update channel books the fills); opened again
        when the trader logged in anew, dropped when the link is gone or its session ended."""
        try:
            current = self._accounts.get(user_id, link_id)
        except BrokerAccountError:
            self._forget(link_id)
            raise
        with self._lock:
            opened = self._opened.get(link_id)
        if opened is not None:
            if current.logged_in and opened.account.session_started == current.session_started:
                return opened
            self._forget(link_id)
        fresh = self._accounts.open(user_id, link_id)  # LoginNeeded when there is no session
        handler = partial(self._on_event, user_id, link_id, fresh.account.broker)
        with self._lock:
            if link_id in self._opened:  # another thread opened it meanwhile: keep one
                kept = self._opened[link_id]
            else:
                self._opened[link_id] = kept = fresh
                self._handlers[link_id] = handler
        if kept is not fresh:
            fresh.close()
            return kept
        fresh.broker.add_event_handler(handler)
        return fresh

    def _on_event(self, user_id: uuid.UUID, link_id: uuid.UUID, broker: str, event: OrderEvent) -> None:
        """The broker's update channel: book fills; never raise into the broker's thread."""
        try:
            self.book_fill(user_id, link_id, broker, event)
        except Exception:
            log.exception("booking a %s fill into the journal failed", broker)

    def _session_ended(self, user_id: uuid.UUID, opened: OpenedLink) -> None:
        """The broker refused the session: close it, and drop it from the link (unless a newer one replaced it)."""
        self._forget(opened.account.id)
        self._accounts.end_session(user_id, opened.account.id, started=opened.account.session_started)

    def _forget(self, link_id: uuid.UUID) -> None:
        """Stop listening to the link's broker and close it (a newer session or none replaces it)."""
        with self._lock:
            opened = self._opened.pop(link_id, None)
            handler = self._handlers.pop(link_id, None)
        if opened is not None:
            if handler is not None:
                opened.broker.remove_event_handler(handler)
            opened.close()

    def _state(self, user_id: uuid.UUID, opened: OpenedLink, ticket: RealOrderTicket) -> _AccountState:
        """The account as the broker sees it now: the instrument first (an order off its tick grid or lot is refused
        before anything else is asked of the broker), then funds, the symbol's position and the open orders."""
        broker, account = opened.broker, opened.account
        symbol = str(ticket.symbol)
        try:
            asset = broker.get_asset(symbol)
            self._check_instrument(ticket, asset, opened)
            funds = broker.get_account()
            positions = broker.get_positions()
            orders = tuple(broker.list_open_orders())
        except SessionExpired:
            self._session_ended(user_id, opened)
            raise LoginNeeded(
                f"Your {account.broker_name} session for {account.label!r} has ended; log in again in "
                "Settings > Broker accounts."
            ) from None
        except BrokerUnavailable as exc:
            raise RealOrderRefused(f"{account.broker_name} did not answer ({exc}); nothing was sent.") from None
        except BrokerError as exc:
            raise RealOrderRefused(f"{account.broker_name} could not check the order: {exc}") from None
        position = next((p for p in positions if p.symbol == symbol), None)
        return _AccountState(funds, asset, position, orders)

    def _check(
        self, user_id: uuid.UUID, opened: OpenedLink, ticket: RealOrderTicket, state: _AccountState
    ) -> tuple[Decimal | None, Decimal | None]:
        """The risk chain on the account's state (the instrument was checked as it was read); (reference price,
        estimated value), or RealOrderRefused."""
        ctx = self._context(user_id, opened, ticket, state)
        if ctx.reference_price is None:  # the chain would say "try again when data arrives": none will, for NSE
            raise RealOrderRefused(
                f"StratForge has no price for {ticket.symbol} to check a {_type_text(ticket.type)} order against "
                "your limits; send it as a limit order."
            )
        rejection = self._chain.check(ctx)
        if rejection is not None:
            raise RealOrderRefused(in_rupees(rejection.reason))
        value = money(ctx.reference_price * ticket.qty) if ctx.reference_price is not None else None
        return ctx.reference_price, value

    @staticmethod
    def _check_instrument(ticket: RealOrderTicket, asset: Asset, opened: OpenedLink) -> None:
        """Tradable, a whole number of lots, prices on the tick grid: the exchange's own rules, in its words."""
        if not asset.tradable:
            raise RealOrderRefused(f"{ticket.symbol} is not tradable at {opened.account.broker_name}.")
        instrument = instrument_of(ticket.symbol, asset)
        try:
            instrument.check_quantity(ticket.qty)
            if ticket.limit_price is not None:
                instrument.check_price(ticket.limit_price, "limit price")
            if ticket.stop_price is not None:
                instrument.check_price(ticket.stop_price, "trigger price")
        except InstrumentError as exc:
            raise RealOrderRefused(str(exc)) from None

    def _context(
        self, user_id: uuid.UUID, opened: OpenedLink, ticket: RealOrderTicket, state: _AccountState
    ) -> RiskContext:
        """The risk rules' view of the real account.

        Cash is the broker's available margin (what it lets the account spend; it already nets what positions
        hold, so no short hold is added); equity is the broker's. Realized P&L of the day and a starting balance
        are not in the Broker protocol: the daily-loss and drawdown rules pass (their limits apply to the virtual
        account). Recent orders are those this app sent to the account, for the duplicate rule."""
        symbol = str(ticket.symbol)
        risk_ticket = OrderTicket(
            symbol=symbol,
            side=ticket.side,
            qty=ticket.qty,
            type=ticket.type,
            time_in_force=ticket.time_in_force,
            limit_price=ticket.limit_price,
            stop_price=ticket.stop_price,
        )
        position = state.position
        held = position.qty if position is not None else Decimal(0)
        if position is not None:
            value = position.market_value if position.market_value is not None else held * position.avg_entry_price
        else:
            value = Decimal(0)
        last = self._last_price(ticket.symbol)
        if last is None and position is not None and held != 0:
            last = abs(value / held)
        if last is None and state.asset.extra.get("last_price"):
            last = Decimal(str(state.asset.extra["last_price"]))
        open_sell = sum(
            (o.qty - o.filled_qty for o in state.open_orders if o.symbol == symbol and o.side is OrderSide.SELL),
            Decimal(0),
        )
        open_buy = sum(
            (o.qty - o.filled_qty for o in state.open_orders if o.symbol == symbol and o.side is OrderSide.BUY),
            Decimal(0),
        )
        # Whether a sell may go short is the adapter's call (its product: CNC/cash sells need the shares held).
        shortable, borrow = state.asset.shortable, state.asset.easy_to_borrow
        asset = Asset(symbol, tradable=True, fractionable=False, shortable=shortable, easy_to_borrow=borrow)
        ref = reference_price(risk_ticket, last)
        now = self._clock()
        with self._lock:
            recent = tuple(r for r in self._recent.get(opened.account.id, ()) if r.symbol == risk_ticket.symbol)
        return RiskContext(
            ticket=risk_ticket,
            asset=asset,
            reference_price=ref,
            limits=self._limits(user_id),
            cash=state.account.buying_power,
            equity=state.account.equity,
            starting_balance=Decimal(0),
            position_qty=held,
            position_value=value,
            open_sell_qty=open_sell,
            open_orders=len(state.open_orders),
            realized_today=Decimal(0),
            reservation=reservation(risk_ticket, ref, short_qty=short_part(risk_ticket, held, open_sell)),
            recent_orders=recent,
            now=now,
            open_buy_qty=open_buy,
            short_value=Decimal(0),
        )

    @staticmethod
    def _product(opened: OpenedLink, asset: Asset) -> str:
        """The product the order is sent with, as the link names it (the adapter's asset says it too)."""
        product = (opened.settings.get("product") or asset.extra.get("product") or "").strip().upper()
        return product or DEFAULT_PRODUCT
