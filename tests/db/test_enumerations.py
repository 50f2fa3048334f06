"""The database's enumeration CHECKs hold exactly the domain's enumerations: one list, so they cannot disagree.

The models build their CHECKs from the enums; the migrations froze literal lists when they were written. These
tests read what PostgreSQL actually enforces after ``upgrade head`` and compare it with the enum, so an enum that
gains a member without a migration (or a migration that drifts from the enum) fails here, not in production.
"""

from __future__ import annotations

import re
from enum import StrEnum

import pytest
from sqlalchemy import CheckConstraint, text

from core.db.base import Base
from core.domain.orders import LedgerOrderStatus, OrderClass, OrderSide, OrderType, TimeInForce
from core.domain.timeframes import Timeframe
from core.domain.trading_sessions import SignalAction, SignalStatus, TradingSessionMode, TradingSessionStatus

_LITERAL = re.compile(r"'((?:[^']|'')*)'")

DOMAIN_ENUMS: list[tuple[str, str, type[StrEnum]]] = [
    ("orders", "ck_orders_status", LedgerOrderStatus),
    ("orders", "ck_orders_side", OrderSide),
    ("orders", "ck_orders_order_type", OrderType),
    ("orders", "ck_orders_time_in_force", TimeInForce),
    ("orders", "ck_orders_order_class", OrderClass),
    ("ohlcv_bars", "ck_ohlcv_bars_timeframe", Timeframe),
    ("data_sync_log", "ck_data_sync_log_timeframe", Timeframe),
    ("trading_sessions", "ck_trading_sessions_mode", TradingSessionMode),
    ("trading_sessions", "ck_trading_sessions_status", TradingSessionStatus),
    ("signals", "ck_signals_action", SignalAction),
    ("signals", "ck_signals_status", SignalStatus),
]


def _enforced(db, table: str, constraint: str) -> set[str]:
    with db.engine.connect() as conn:
        definition = conn.scalar(
            text(
                "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
                "WHERE t.relname = :table AND c.conname = :name AND c.contype = 'c'"
            ),
            {"table": table, "name": constraint},
        )
    assert definition is not None, f"{table} has no CHECK named {constraint}"
    return {v.replace("''", "'") for v in _LITERAL.findall(definition)}


@pytest.mark.parametrize(("table", "constraint", "enum"), DOMAIN_ENUMS, ids=[c for _, c, _ in DOMAIN_ENUMS])
def test_the_database_enforces_exactly_the_domain_enumeration(db, table, constraint, enum) -> None:
    assert _enforced(db, table, constraint) == {member.value for member in enum}


def test_every_enumeration_check_of_the_models_is_the_one_the_database_enforces(db) -> None:
    checked = 0
    for table in Base.metadata.sorted_tables:
        for item in table.constraints:
            if not isinstance(item, CheckConstraint) or " IN (" not in str(item.sqltext):
                continue
            name = str(item.name)
            model_values = {v.replace("''", "'") for v in _LITERAL.findall(str(item.sqltext))}
            assert _enforced(db, table.name, name) == model_values, f"{table.name}.{name}"
            checked += 1
    assert checked >= len(DOMAIN_ENUMS)  # the scan found the enumeration CHECKs (their SQL shape did not change)


def test_a_value_outside_the_enumeration_is_refused_by_postgresql(db) -> None:
    with db.engine.connect() as conn, pytest.raises(Exception, match="ck_ohlcv_bars_timeframe"):
        conn.execute(
            text(
                "INSERT INTO ohlcv_bars (ticker_id, timeframe, timestamp, open, high, low, close, volume) "
                "VALUES (gen_random_uuid(), '2Hour', now(), 1, 1, 1, 1, 0)"
            )
        )
