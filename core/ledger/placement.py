"""The two statements of an order placement, run inside one transaction.

``lock_account`` locks the user's row and reads, in the same statement,
everything the risk rules look at; ``record_order`` moves the reservation and
inserts the order in one more. Between them the ledger runs
the risk chain in Python, so the lock is held for two statements, the rules
and the commit, not for a dozen ORM statements.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import psycopg

from core.accounts.defaults import default_risk_settings
from core.domain.orders import OPEN_LEDGER_STATUSES
from core.domain.risk_limits import RiskLimits
from core.domain.tickets import OrderTicket
from core.risk import RecentOrder

_OPEN = "status IN ({})".format(", ".join(f"'{status}'" for status in OPEN_LEDGER_STATUSES))

LOCK_ACCOUNT_SQL = f"""
SELECT u.virtual_balance, u.reserved_balance, u.starting_balance,
       rs.is_active, rs.daily_loss_limit, rs.max_position_size, rs.max_order_value, rs.max_open_orders,
       rs.max_drawdown_percent, rs.max_risk_per_trade, rs.duplicate_window_seconds, rs.allow_fractional,
       p.symbols, p.quantities, p.costs,
       o.open_count, o.open_sell, o.open_buy, r.recent_side, r.recent_qty, r.recent_type, r.recent_limit, r.recent_stop,
       r.recent_at,
       CASE WHEN u.realized_day >= %(today)s THEN u.realized_day_pnl ELSE 0 END AS realized_today,
       CASE WHEN CAST(%(session_id)s AS uuid) IS NOT NULL AND NOT EXISTS (
                SELECT FROM trading_sessions WHERE id = %(session_id)s AND user_id = u.id) THEN 'session'
            WHEN CAST(%(signal_id)s AS uuid) IS NOT NULL AND NOT EXISTS (
                SELECT FROM signals WHERE id = %(signal_id)s AND user_id = u.id) THEN 'signal'
            WHEN CAST(%(strategy_id)s AS uuid) IS NOT NULL AND NOT EXISTS (
                SELECT FROM strategies WHERE id = %(strategy_id)s AND user_id = u.id) THEN 'strategy'
       END AS not_own
  FROM users u
  LEFT JOIN risk_settings rs ON rs.user_id = u.id
 CROSS JOIN LATERAL (
        SELECT %(now)s - make_interval(secs => CASE WHEN rs.is_active THEN rs.duplicate_window_seconds
                                                    ELSE %(default_window)s END) AS window_start) w
 CROSS JOIN LATERAL (
        SELECT array_agg(symbol) AS symbols, array_agg(quantity) AS quantities, array_agg(cost_basis) AS costs
          FROM positions WHERE user_id = u.id AND status = 'OPEN') p
 CROSS JOIN LATERAL (
        SELECT count(*) AS open_count,
               coalesce(sum(quantity - filled_quantity) FILTER (WHERE side = 'sell' AND symbol = %(symbol)s), 0)
                   AS open_sell,
               coalesce(sum(quantity - filled_quantity) FILTER (WHERE side = 'buy' AND symbol = %(symbol)s), 0)
                   AS open_buy
          FROM orders WHERE user_id = u.id AND {_OPEN}) o
 CROSS JOIN LATERAL (
        SELECT array_agg(side) AS recent_side, array_agg(quantity) AS recent_qty,
               array_agg(order_type) AS recent_type, array_agg(limit_price) AS recent_limit,
               array_agg(stop_price) AS recent_stop, array_agg(created_at) AS recent_at
          FROM orders WHERE user_id = u.id AND symbol = %(symbol)s AND created_at >= w.window_start) r
 WHERE u.id = %(user_id)s
   FOR UPDATE OF u
"""

RECORD_ORDER_SQL = """
WITH held AS (
    UPDATE users
       SET virtual_balance = virtual_balance - %(held)s, reserved_balance = reserved_balance + %(held)s,
           updated_at = now()
     WHERE id = %(user_id)s AND %(held)s <> 0
)
INSERT INTO orders (id, user_id, session_id, signal_id, strategy_id, request_id, client_order_id, broker, symbol,
                    side, order_type, time_in_force, order_class, quantity, limit_price, stop_price,
                    take_profit_price, stop_loss_price, leg_role, status, reserved_amount, created_at)
VALUES (%(id)s, %(user_id)s, %(session_id)s, %(signal_id)s, %(strategy_id)s, %(request_id)s, %(client_order_id)s,
        %(broker)s, %(symbol)s, %(side)s, %(order_type)s, %(time_in_force)s, %(order_class)s, %(quantity)s,
        %(limit_price)s, %(stop_price)s, %(take_profit_price)s, %(stop_loss_price)s, %(leg_role)s, 'pending',
        %(held)s, %(created_at)s)
"""


@dataclass(frozen=True)
class AccountSnapshot:
    """A user's books as the risk rules see them, read under the account lock."""

    cash: Decimal
    reserved: Decimal
    starting_balance: Decimal
    limits: RiskLimits
    # (symbol, quantity, cost basis) of open positions, shorts included (negative quantity and cost basis): the
    # ledger marks them at its last prices for the equity, the position and the shorts' margin hold
    positions: tuple[tuple[str, Decimal, Decimal], ...]
    open_orders: int
    open_sell_qty: Decimal  # of the ticket's symbol
    open_buy_qty: Decimal  # of the ticket's symbol (buys that will cover a short first)
    recent_orders: tuple[RecentOrder, ...]  # of the ticket's symbol, inside the duplicate window
    realized_today: Decimal
    # The first of the order's session, signal and strategy that is not this user's own ('session', 'signal',
    # 'strategy'; a missing one too), or None: an order may only be filed under the trader's own rows.
    not_own: str | None = None


@dataclass(frozen=True)
class OrderRecord:
    """The columns of a new order row that placement decides."""

    id: uuid.UUID
    user_id: uuid.UUID
    client_order_id: str
    broker: str
    ticket: OrderTicket
    held: Decimal
    created_at: datetime
    session_id: uuid.UUID | None = None
    signal_id: uuid.UUID | None = None
    strategy_id: uuid.UUID | None = None
    # The club order request it is placed for (orders.request_id, unique): a request is never placed twice.
    request_id: uuid.UUID | None = None


def lock_account(
    conn: psycopg.Connection,
    user_id: uuid.UUID,
    symbol: str,
    now: datetime,
    *,
    session_id: uuid.UUID | None = None,
    signal_id: uuid.UUID | None = None,
    strategy_id: uuid.UUID | None = None,
) -> AccountSnapshot | None:
    """Lock the user's row until the transaction ends; None when the account does not exist.

    Recent orders are those of ``symbol`` inside the user's duplicate window; realized P&L is the UTC day's
    (kept on the user's row by the booking function, migration 0008). The same statement says whether the
    session, signal and strategy the order is to be filed under are the user's own (``not_own``): checked here,
    no round trip is added to a placement (and with none given, PostgreSQL evaluates no subquery)."""
    today = now.astimezone(UTC).date()
    default_window = default_risk_settings(Decimal(1))["duplicate_window_seconds"]
    row = conn.execute(
        LOCK_ACCOUNT_SQL,
        {
            "user_id": user_id, "symbol": symbol, "now": now, "default_window": default_window, "today": today,
            "session_id": session_id, "signal_id": signal_id, "strategy_id": strategy_id,
        },
        prepare=True,
    ).fetchone()  # fmt: skip
    if row is None:
        return None
    (cash, reserved, starting, active, daily, max_pos, max_value, max_open, max_dd, max_risk, window, fractional,
     symbols, quantities, costs, open_count, open_sell, open_buy, sides, qtys, types, limits, stops, times,
     realized_today, not_own) = row  # fmt: skip
    if active:
        risk = RiskLimits(daily, max_pos, max_value, max_open, max_dd, max_risk, window, fractional)
    else:  # no settings row, or switched off: the defaults for this balance
        risk = RiskLimits(**default_risk_settings(starting))
    recent = tuple(
        RecentOrder(symbol, *fields) for fields in zip(sides or (), qtys or (), types or (), limits or (),
                                                        stops or (), times or (), strict=True)
    )  # fmt: skip
    return AccountSnapshot(
        cash=cash,
        reserved=reserved,
        starting_balance=starting,
        limits=risk,
        positions=tuple(zip(symbols or (), quantities or (), costs or (), strict=True)),
        open_orders=open_count,
        open_sell_qty=open_sell,
        open_buy_qty=open_buy,
        recent_orders=recent,
        realized_today=realized_today,
        not_own=not_own,
    )


def record_order(conn: psycopg.Connection, record: OrderRecord) -> None:
    """Hold the reservation and insert the order (status ``pending``) in the caller's transaction."""
    t = record.ticket
    conn.execute(
        RECORD_ORDER_SQL,
        {
            "id": record.id,
            "user_id": record.user_id,
            "session_id": record.session_id,
            "signal_id": record.signal_id,
            "strategy_id": record.strategy_id,
            "request_id": record.request_id,
            "client_order_id": record.client_order_id,
            "broker": record.broker,
            "symbol": t.symbol,
            "side": t.side.value,
            "order_type": t.type.value,
            "time_in_force": t.time_in_force.value,
            "order_class": t.order_class.value,
            "quantity": t.qty,
            "limit_price": t.limit_price,
            "stop_price": t.stop_price,
            "take_profit_price": t.take_profit_price,
            "stop_loss_price": t.stop_loss_price,
            "leg_role": "entry" if t.take_profit_price is not None else None,
            "held": record.held,
            "created_at": record.created_at,
        },
        prepare=True,
    )
