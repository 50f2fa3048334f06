"""Broker-neutral order, event and account values.

Every broker implementation (Alpaca over alpaca-py, the in-process SimBroker)
translates its own payloads into these before the ledger sees them, so the
ledger is written once. Money and quantities are Decimal; times are aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    # At the open / at the close: Alpaca reports them and the orders table admits them; StratForge places none
    # and reads a broker's opg/cls order as a day order (core.adapters.alpaca.convert).
    OPG = "opg"
    CLS = "cls"


class OrderClass(StrEnum):
    SIMPLE = "simple"
    BRACKET = "bracket"
    OCO = "oco"  # admitted by the orders table for imported orders; not placed by StratForge
    OTO = "oto"


class OrderStatus(StrEnum):
    """Broker-side status (Alpaca's names); terminal ones are in TERMINAL_STATUSES."""

    PENDING_NEW = "pending_new"
    NEW = "new"  # accepted by the broker, working
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    HELD = "held"  # a bracket leg waiting for its parent to fill


TERMINAL_STATUSES = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


class LedgerOrderStatus(StrEnum):
    """A trader's order in the ledger (``orders.status``), which is not the broker's view of it (``OrderStatus``).

    The ledger adds ``pending`` (written, risk-checked and reserved, not yet acknowledged by the broker) and
    ``submitted``; ``accepted`` is the broker's ``new``.
    """

    PENDING = "pending"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"


# Orders still working: they hold a reservation and may fill.
OPEN_LEDGER_STATUSES: tuple[LedgerOrderStatus, ...] = (
    LedgerOrderStatus.PENDING,
    LedgerOrderStatus.SUBMITTED,
    LedgerOrderStatus.ACCEPTED,
    LedgerOrderStatus.PARTIALLY_FILLED,
    LedgerOrderStatus.PENDING_CANCEL,
)
# Orders that are done: nothing reserved, no fill to come.
TERMINAL_LEDGER_STATUSES: tuple[LedgerOrderStatus, ...] = tuple(
    s for s in LedgerOrderStatus if s not in OPEN_LEDGER_STATUSES
)
# How far along an open order is: a late report of an earlier stage must not move an order back.
LEDGER_STATUS_RANK: dict[str, int] = {
    LedgerOrderStatus.PENDING: 0,
    LedgerOrderStatus.SUBMITTED: 1,
    LedgerOrderStatus.ACCEPTED: 2,
    LedgerOrderStatus.PENDING_CANCEL: 3,
    LedgerOrderStatus.PARTIALLY_FILLED: 3,
}


class OrderEventType(StrEnum):
    NEW = "new"
    PARTIAL_FILL = "partial_fill"
    FILL = "fill"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    # The broker replaced the order (Alpaca's PATCH): ``order`` is the old one, ``replaced_by`` the new one, which
    # carries on the same trade under a new broker id. Not an end: nothing is released or canceled.
    REPLACED = "replaced"


@dataclass(frozen=True)
class OrderRequest:
    """What the ledger asks a broker to do. ``client_order_id`` ties the broker order to our row."""

    client_order_id: str
    symbol: str
    side: OrderSide
    qty: Decimal
    type: OrderType = OrderType.MARKET
    time_in_force: TimeInForce = TimeInForce.DAY
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    order_class: OrderClass = OrderClass.SIMPLE
    take_profit_limit_price: Decimal | None = None  # bracket: the take-profit leg's limit
    stop_loss_stop_price: Decimal | None = None  # bracket: the stop-loss leg's trigger
    stop_loss_limit_price: Decimal | None = None  # bracket: optional limit for a stop-limit stop-loss
    extended_hours: bool = False


@dataclass(frozen=True)
class BrokerOrder:
    """A broker's view of one order at one moment; ``filled_qty``, ``filled_avg_price`` and ``filled_fees``
    are cumulative. ``filled_fees`` is None when the broker does not report fees per order (Alpaca: none)."""

    id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    qty: Decimal
    type: OrderType
    time_in_force: TimeInForce
    status: OrderStatus
    filled_qty: Decimal
    filled_avg_price: Decimal | None
    submitted_at: datetime
    updated_at: datetime
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    order_class: OrderClass = OrderClass.SIMPLE
    parent_id: str | None = None
    legs: tuple[BrokerOrder, ...] = ()
    filled_fees: Decimal | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class OrderEvent:
    """One trade update. For fills, ``execution_id``/``price``/``qty`` describe this execution only,
    while ``order`` carries the cumulative state after it."""

    type: OrderEventType
    order: BrokerOrder
    timestamp: datetime
    execution_id: str | None = None
    price: Decimal | None = None
    qty: Decimal | None = None
    fee: Decimal = Decimal("0")
    reason: str | None = None  # rejections and cancellations, when the broker says why
    replaced_by: BrokerOrder | None = None  # REPLACED only: the order that now stands for ``order``


@dataclass(frozen=True)
class Account:
    id: str
    status: str
    cash: Decimal
    buying_power: Decimal
    equity: Decimal


@dataclass(frozen=True)
class BrokerPosition:
    symbol: str
    qty: Decimal
    avg_entry_price: Decimal
    market_value: Decimal | None = None


@dataclass(frozen=True)
class Clock:
    timestamp: datetime
    is_open: bool
    next_open: datetime
    next_close: datetime


@dataclass(frozen=True)
class Asset:
    """What the risk rules need to know about a symbol. A short sale needs ``shortable`` and ``easy_to_borrow``
    (Alpaca's flags): the broker refuses shorts of the others, so the ledger refuses them first."""

    symbol: str
    tradable: bool = True
    fractionable: bool = False
    extra: dict[str, str] = field(default_factory=dict)
    shortable: bool = True
    easy_to_borrow: bool = True
