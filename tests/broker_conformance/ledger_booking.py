"""Booking a broker's events through the real ledger, for the suite's exactly-once checks.

The order row is written by the ledger's own ``record_order`` (with its reservation) before the order is sent,
the submit answer is booked as the acceptance the ledger books, and every event the broker then delivers goes
through ``Ledger.apply_event`` -- the one path every StratForge client books with, exactly once per execution
id (``sf_apply_event``). Placement's risk chain is left out on purpose: it judges US tickers and virtual cash,
which is not what this suite is about, and the Indian brokers' ``NSE:INFY`` would not pass it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select

from core.db.database import Database
from core.db.models import Fill, Order
from core.db.raw import engine_of, raw_connection
from core.domain.clock import utc_now
from core.domain.orders import BrokerOrder, OrderEvent, OrderEventType, OrderRequest
from core.domain.tickets import OrderTicket
from core.ledger.placement import OrderRecord, record_order
from core.ledger.service import Ledger
from tests.broker_conformance.events import EventLog


@dataclass(frozen=True)
class Booked:
    quantity: Decimal
    execution_ids: list[str]
    status: str
    filled_quantity: Decimal


class LedgerBooking:
    """An event handler: books each event, then logs it (``log``), so a logged event is a booked one."""

    def __init__(self, db: Database, ledger: Ledger, user_id: uuid.UUID) -> None:
        self._db = db
        self._ledger = ledger
        self._user_id = user_id
        self.log = EventLog()

    def __call__(self, event: OrderEvent) -> None:
        self._ledger.apply_event(event)
        self.log(event)

    def record(self, request: OrderRequest, broker_name: str) -> uuid.UUID:
        """The order's row, as placement writes it, under ``request``'s client order id."""
        assert request.limit_price is not None
        ticket = OrderTicket(
            request.symbol, request.side, request.qty, request.type, request.time_in_force, request.limit_price
        )
        row_id = uuid.uuid4()
        record = OrderRecord(
            row_id, self._user_id, request.client_order_id, broker_name, ticket, request.qty * request.limit_price,
            utc_now(),
        )  # fmt: skip
        with raw_connection(engine_of(self._db.session_factory)) as conn:
            record_order(conn, record)
            conn.commit()
        return row_id

    def accepted(self, placed: BrokerOrder) -> None:
        """The submit answer, booked as the ledger books it (a NEW event of the order)."""
        self._ledger.apply_event(OrderEvent(OrderEventType.NEW, placed, utc_now()))

    def booked(self, row_id: uuid.UUID) -> Booked:
        with self._db.session_factory() as s:
            quantity = s.scalar(select(func.coalesce(func.sum(Fill.quantity), 0)).where(Fill.order_id == row_id))
            ids = list(s.scalars(select(Fill.execution_id).where(Fill.order_id == row_id)))
            row = s.get(Order, row_id)
            assert row is not None and quantity is not None
            return Booked(Decimal(quantity), ids, row.status, row.filled_quantity)
