"""The two statements of order placement, run inside one transaction for a batch of orders.

``lock_accounts`` locks the users' rows (in id order, so two batches never
deadlock) and reads, in the same statement, everything the risk rules look at
for each (user, symbol) asked; ``record_orders`` moves the reservations and
inserts the orders in one more. Between them the ledger runs the risk chain in
Python, so the locks are held for the rules, one insert and the commit, however
many orders the batch holds (core.ledger.placement_batch gathers them).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg

from core.accounts.defaults import default_risk_settings
from core.risk import OrderTicket, RecentOrder, RiskLimits

OPEN_STATUSES = ("pending", "submitted", "accepted", "partially_filled", "pending_cancel")
_OPEN = "status IN ({})".format(", ".join(f"'{status}'" for status in OPEN_STATUSES))

_LOCK_ACCOUNTS = f"""
SELECT req.n, u.virtual_balance, u.reserved_balance, u.starting_balance,
       rs.is_active, rs.daily_loss_limit, rs.max_position_size, rs.max_order_value, rs.max_open_orders,
       rs.max_drawdown_percent, rs.max_risk_per_trade, rs.duplicate_window_seconds, rs.allow_fractional,
       p.symbols, p.quantities, p.costs,
       o.open_count, o.open_sell, r.recent_side, r.recent_qty, r.recent_type, r.recent_limit, r.recent_stop,
       r.recent_at, f.realized_today
  FROM unnest(%(user_ids)s::uuid[], %(symbols)s::text[]) WITH ORDINALITY AS req(user_id, symbol, n)
  JOIN users u ON u.id = req.user_id
  LEFT JOIN risk_settings rs ON rs.user_id = u.id
 CROSS JOIN LATERAL (
        SELECT %(now)s - make_interval(secs => CASE WHEN rs.is_active THEN rs.duplicate_window_seconds
                                                    ELSE %(default_window)s END) AS window_start) w
 CROSS JOIN LATERAL (
        SELECT array_agg(symbol) AS symbols, array_agg(quantity) AS quantities, array_agg(cost_basis) AS costs
          FROM positions WHERE user_id = u.id AND status = 'OPEN') p
 CROSS JOIN LATERAL (
        SELECT count(*) AS open_count,
               coalesce(sum(quantity - filled_quantity) FILTER (WHERE side = 'sell' AND symbol = req.symbol), 0)
                   AS open_sell
          FROM orders WHERE user_id = u.id AND {_OPEN}) o
 CROSS JOIN LATERAL (
        SELECT array_agg(side) AS recent_side, array_agg(quantity) AS recent_qty,
               array_agg(order_type) AS recent_type, array_agg(limit_price) AS recent_limit,
               array_agg(stop_price) AS recent_stop, array_agg(created_at) AS recent_at
          FROM orders WHERE user_id = u.id AND symbol = req.symbol AND created_at >= w.window_start) r
 CROSS JOIN LATERAL (
        SELECT coalesce(sum(coalesce(realized_pnl, 0) - fees), 0) AS realized_today
          FROM fills WHERE user_id = u.id AND source = 'ledger' AND executed_at >= %(day_start)s) f
 ORDER BY u.id
   FOR UPDATE OF u
"""
_LOCK_ACCOUNTS_SKIP_LOCKED = _LOCK_ACCOUNTS.replace("FOR UPDATE OF u", "FOR UPDATE OF u SKIP LOCKED")

# One row per order; a user appears at most once per batch (``record_orders`` checks), so the UPDATE's join
# moves each user's balance by exactly that user's reservation.
_RECORD_ORDERS = """
WITH req AS (
    SELECT *
      FROM unnest(%(id)s::uuid[], %(user_id)s::uuid[], %(session_id)s::uuid[], %(signal_id)s::uuid[],
                  %(strategy_id)s::uuid[], %(client_order_id)s::text[], %(broker)s::text[], %(symbol)s::text[],
                  %(side)s::text[], %(order_type)s::text[], %(time_in_force)s::text[], %(order_class)s::text[],
                  %(quantity)s::numeric[], %(limit_price)s::numeric[], %(stop_price)s::numeric[],
                  %(take_profit_price)s::numeric[], %(stop_loss_price)s::numeric[], %(leg_role)s::text[],
                  %(held)s::numeric[], %(created_at)s::timestamptz[])
           AS r(id, user_id, session_id, signal_id, strategy_id, client_order_id, broker, symbol, side, order_type,
                time_in_force, order_class, quantity, limit_price, stop_price, take_profit_price, stop_loss_price,
                leg_role, held, created_at)
), held AS (
    UPDATE users u
       SET virtual_balance = u.virtual_balance - req.held, reserved_balance = u.reserved_balance + req.held,
           updated_at = now()
      FROM req
     WHERE u.id = req.user_id AND req.held <> 0
)
INSERT INTO orders (id, user_id, session_id, signal_id, strategy_id, client_order_id, broker, symbol, side,
                    order_type, time_in_force, order_class, quantity, limit_price, stop_price, take_profit_price,
                    stop_loss_price, leg_role, status, reserved_amount, created_at)
SELECT id, user_id, session_id, signal_id, strategy_id, client_order_id, broker, symbol, side, order_type,
       time_in_force, order_class, quantity, limit_price, stop_price, take_profit_price, stop_loss_price, leg_role,
       'pending', held, created_at
  FROM req
"""


@dataclass(frozen=True)
class AccountSnapshot:
    """A user's books as the risk rules see them, read under the account lock."""

    cash: Decimal
    reserved: Decimal
    starting_balance: Decimal
    limits: RiskLimits
    positions: tuple[tuple[str, Decimal, Decimal], ...]  # (symbol, quantity, cost basis) of open positions
    open_orders: int
    open_sell_qty: Decimal  # of the ticket's symbol
    recent_orders: tuple[RecentOrder, ...]  # of the ticket's symbol, inside the duplicate window
    realized_today: Decimal


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


def use_generic_plans(conn: psycopg.Connection) -> None:
    """For the rest of the caller's transaction, run prepared statements on their generic plans.

    Both placement statements take arrays, whose length a custom plan knows, so PostgreSQL's plan cache kept
    choosing a fresh custom plan over the generic one and planned every batch anew: about 1 ms of server CPU
    for a placement alone, more than executing it. The generic plan is the same index nested loop."""
    conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")


def lock_accounts(
    conn: psycopg.Connection,
    wanted: Sequence[tuple[uuid.UUID, str]],
    now: datetime,
    *,
    skip_locked: bool = False,
) -> list[AccountSnapshot | None]:
    """Lock the rows of the users in ``wanted`` (user, symbol) until the transaction ends and read their books;
    one snapshot per pair, in the same order, None where the account does not exist (or, with
    ``skip_locked``, where another transaction holds the row: no wait).

    Recent orders and open sells are those of the pair's symbol inside the user's duplicate window; realized
    P&L is the UTC day's."""
    if not wanted:
        return []
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    default_window = default_risk_settings(Decimal(1))["duplicate_window_seconds"]
    rows = conn.execute(
        _LOCK_ACCOUNTS_SKIP_LOCKED if skip_locked else _LOCK_ACCOUNTS,
        {
            "user_ids": [user_id for user_id, _ in wanted],
            "symbols": [symbol for _, symbol in wanted],
            "now": now,
            "default_window": default_window,
            "day_start": day_start,
        },
        prepare=True,
    ).fetchall()
    snapshots: list[AccountSnapshot | None] = [None] * len(wanted)
    for row in rows:
        snapshots[row[0] - 1] = _snapshot(wanted[row[0] - 1][1], row[1:])
    return snapshots


def lock_account(conn: psycopg.Connection, user_id: uuid.UUID, symbol: str, now: datetime) -> AccountSnapshot | None:
    """``lock_accounts`` for one user."""
    return lock_accounts(conn, [(user_id, symbol)], now)[0]


def _snapshot(symbol: str, row: tuple[Any, ...]) -> AccountSnapshot:
    (cash, reserved, starting, active, daily, max_pos, max_value, max_open, max_dd, max_risk, window, fractional,
     symbols, quantities, costs, open_count, open_sell, sides, qtys, types, limits, stops, times,
     realized_today) = row  # fmt: skip
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
        recent_orders=recent,
        realized_today=realized_today,
    )


_COLUMNS = (
    "id", "user_id", "session_id", "signal_id", "strategy_id", "client_order_id", "broker", "symbol", "side",
    "order_type", "time_in_force", "order_class", "quantity", "limit_price", "stop_price", "take_profit_price",
    "stop_loss_price", "leg_role", "held", "created_at",
)  # fmt: skip


def _columns(record: OrderRecord) -> tuple[object, ...]:
    t = record.ticket
    return (
        record.id, record.user_id, record.session_id, record.signal_id, record.strategy_id, record.client_order_id,
        record.broker, t.symbol, t.side.value, t.type.value, t.time_in_force.value, t.order_class.value, t.qty,
        t.limit_price, t.stop_price, t.take_profit_price, t.stop_loss_price,
        "entry" if t.take_profit_price is not None else None, record.held, record.created_at,
    )  # fmt: skip


def record_orders(conn: psycopg.Connection, records: Sequence[OrderRecord]) -> None:
    """Hold the reservations and insert the orders (status ``pending``) in the caller's transaction.
    At most one order per user: the balance update joins each user once."""
    if not records:
        return
    if len({r.user_id for r in records}) != len(records):
        raise ValueError("record_orders takes at most one order per user")
    columns = zip(*(_columns(r) for r in records), strict=True)
    conn.execute(_RECORD_ORDERS, dict(zip(_COLUMNS, (list(c) for c in columns), strict=True)), prepare=True)
