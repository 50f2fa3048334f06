"""Minimal valid rows for constraint and cascade tests (each returns the flushed object)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from core.db import models as m

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def add(session: Session, obj):
    session.add(obj)
    session.flush()
    return obj


def user(session: Session, name: str = "trader") -> m.User:
    return add(
        session,
        m.User(
            email=f"{name}-{uuid.uuid4().hex[:6]}@example.com",
            username=f"{name}_{uuid.uuid4().hex[:6]}",
            password_hash="x",
        ),
    )


def ticker(session: Session, symbol: str = "AAPL") -> m.Ticker:
    return add(session, m.Ticker(symbol=symbol))


def bar(session: Session, tick: m.Ticker, ts: datetime = T0, **prices) -> m.OhlcvBar:
    values = {"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 100} | prices
    return add(session, m.OhlcvBar(ticker_id=tick.id, timeframe="1Min", timestamp=ts, source="simulated", **values))


def strategy(session: Session, owner: m.User, name: str = "SMA cross") -> m.Strategy:
    return add(session, m.Strategy(user_id=owner.id, name=name, python_code="class S: pass"))


def trading_session(session: Session, owner: m.User, strat: m.Strategy | None) -> m.TradingSession:
    return add(
        session,
        m.TradingSession(user_id=owner.id, strategy_id=strat.id if strat else None, mode="PAPER", status="STOPPED"),
    )


def order(session: Session, owner: m.User, **kw) -> m.Order:
    values = {
        "client_order_id": f"sf-{uuid.uuid4().hex}",
        "symbol": "AAPL",
        "side": "buy",
        "order_type": "market",
        "quantity": Decimal("10"),
    } | kw
    return add(session, m.Order(user_id=owner.id, **values))


def fill(session: Session, owner: m.User, parent: m.Order, **kw) -> m.Fill:
    values = {
        "execution_id": f"exec-{uuid.uuid4().hex}",
        "symbol": parent.symbol,
        "side": parent.side,
        "quantity": Decimal("10"),
        "price": Decimal("187.25"),
        "executed_at": T0,
    } | kw
    return add(session, m.Fill(user_id=owner.id, order_id=parent.id, **values))
