"""Applying one execution to a user's locked books: cash, reservation, position, realized P&L, fees.

Callers hold row locks on the user and the order. Quantities are applied by
*cumulative* filled quantity: an execution only counts for the part of the
order's cumulative fill that the ledger has not booked yet. Together with the
unique execution id this makes duplicated, replayed and out-of-order events
harmless, and lets start-up settlement book fills it learns of by REST.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.broker.types import OrderEvent
from core.db.models import Fill, Order, Position, PositionHistory, User
from core.ledger.errors import LedgerError
from core.ledger.money import money


def apply_fill(session: Session, user: User, order: Order, event: OrderEvent) -> bool:
    """Book the not-yet-booked part of ``event``'s cumulative fill; False when there is none."""
    cumulative = event.order.filled_qty
    delta = cumulative - order.filled_quantity
    if delta <= 0:
        return False
    price = _execution_price(session, order, event, delta)
    fee = _execution_fee(order, event)
    notional = money(delta * price)
    execution_id = event.execution_id or f"{event.order.id}:{cumulative}"
    position = session.scalar(
        select(Position).where(Position.user_id == user.id, Position.symbol == order.symbol).with_for_update()
    )
    if position is None:
        position = Position(id=uuid.uuid4(), user_id=user.id, symbol=order.symbol, session_id=order.session_id)
        position.quantity = position.cost_basis = position.realized_pnl = Decimal(0)
        position.average_entry_price = Decimal(0)
        session.add(position)
    if order.side == "sell" and position.quantity < delta:
        raise LedgerError(
            f"Sell fill of {delta} {order.symbol} exceeds the {position.quantity} held by the user (order {order.id})."
        )

    before = position.quantity
    if order.side == "buy":
        removed = realized = Decimal(0)
    else:
        removed = position.cost_basis if delta == before else money(position.cost_basis * delta / before)
        realized = notional - removed

    fill_id = session.scalar(
        insert(Fill)
        .values(
            id=uuid.uuid4(),
            user_id=user.id,
            order_id=order.id,
            session_id=order.session_id,
            signal_id=order.signal_id,
            execution_id=execution_id,
            broker_order_id=event.order.id,
            broker=order.broker,
            symbol=order.symbol,
            side=order.side,
            quantity=delta,
            price=price,
            fees=fee,
            realized_pnl=realized,
            executed_at=event.timestamp,
            source="ledger",
        )
        .on_conflict_do_nothing()
        .returning(Fill.id)
    )
    if fill_id is None:
        return False  # this execution id was booked before

    if order.side == "buy":
        cost = notional + fee
        used = min(order.reserved_amount, cost)
        order.reserved_amount -= used
        user.reserved_balance -= used
        user.virtual_balance -= cost - used
        position.quantity += delta
        position.cost_basis += notional
        action = "OPEN" if before == 0 else "INCREASE"
        if before == 0:
            position.opened_at, position.closed_at = event.timestamp, None
    else:
        user.virtual_balance += notional - fee
        user.realized_pnl += realized
        position.realized_pnl += realized
        position.quantity -= delta
        position.cost_basis -= removed
        action = "CLOSE" if position.quantity == 0 else "DECREASE"
        if position.quantity == 0:
            position.closed_at = event.timestamp
    user.fees_paid += fee
    order.fees += fee
    position.status = "OPEN" if position.quantity > 0 else "CLOSED"
    position.average_entry_price = money(position.cost_basis / position.quantity) if position.quantity else Decimal(0)

    booked_before = order.filled_quantity * (order.filled_avg_price or 0)
    order.filled_quantity = cumulative
    order.filled_avg_price = money((booked_before + delta * price) / cumulative)
    order.filled_at = event.timestamp
    session.flush()
    session.add(
        PositionHistory(
            position_id=position.id,
            fill_id=fill_id,
            action=action,
            quantity=delta,
            price=price,
            quantity_after=position.quantity,
            average_price_after=position.average_entry_price,
            pnl=realized,
            timestamp=event.timestamp,
        )
    )
    return True


def _execution_fee(order: Order, event: OrderEvent) -> Decimal:
    """Fees follow the broker's cumulative total when it reports one, so merged or lost events still
    book every fee; a broker without per-order fee totals (Alpaca is commission-free) gives the event's."""
    if event.order.filled_fees is not None:
        return money(max(event.order.filled_fees - order.fees, Decimal(0)))
    return money(event.fee)


def _execution_price(session: Session, order: Order, event: OrderEvent, delta: Decimal) -> Decimal:
    """This execution's price, or, when events were merged or skipped, the price that makes the
    booked total equal the broker's cumulative average."""
    if event.price is not None and event.qty == delta:
        return money(event.price)
    average = event.order.filled_avg_price or event.price
    if average is None:
        raise LedgerError(f"Fill event for order {order.id} carries no price.")
    booked = session.scalar(
        select(func.coalesce(func.sum(Fill.quantity * Fill.price), 0)).where(Fill.order_id == order.id)
    )
    price = money((event.order.filled_qty * average - booked) / delta)
    return price if price > 0 else money(average)
