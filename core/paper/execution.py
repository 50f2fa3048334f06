"""From a strategy's intents at one closed bar to signals and orders, through the ledger.

Each intent that asks for a trade becomes a ``signals`` row first (PENDING, stamped with the bar's open time,
the intent kept in its metadata), then an order placed by ``Ledger.place_order`` carrying the session, the
signal and the strategy; the signal ends EXECUTED (the ledger placed the order; fills follow from the broker)
or REJECTED with the reason the risk chain, the broker or the sizing gave. A signal is therefore on disk before
the order exists, and an order always points back at the signal that asked for it.

A target first cancels the session's working orders on that symbol (in a backtest a target replaces whatever
was working); CANCEL_ALL cancels them and records no signal. Bracket legs are never cancelled here: they
protect a position already bought.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.domain.orders import OrderSide
from core.ledger.errors import LedgerError, OrderRejected
from core.ledger.service import Ledger
from core.ledger.views import Portfolio
from core.paper import records
from core.paper.bars import ClosedBar
from core.paper.sandboxed import intent_dict
from core.paper.sizing import AccountView, Refusal, size_intent
from core.paper.types import EXECUTED, REJECTED, SignalInfo
from core.strategy.api import IntentKind, OrderIntent

log = logging.getLogger(__name__)

_ACTIONS = {OrderSide.BUY: "BUY", OrderSide.SELL: "SELL"}


@dataclass(frozen=True)
class PaperSessionContext:
    """Who a session trades for and what its orders are attributed to."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    strategy_id: uuid.UUID | None
    class_name: str


def strategy_account(portfolio: Portfolio, symbol: str) -> dict[str, float | None]:
    """What the strategy is told (``Strategy.account``): the virtual account's cash and equity, and its
    position in the symbol being decided."""
    held = next((p for p in portfolio.positions if p.symbol == symbol), None)
    return {
        "cash": float(portfolio.cash), "equity": float(portfolio.equity),
        "position": float(held.qty) if held else 0.0,
        "position_price": float(held.avg_entry_price) if held and held.qty else None,
    }  # fmt: skip


class SignalExecutor:
    def __init__(
        self,
        factory: sessionmaker[Session],
        ledger: Ledger,
        context: PaperSessionContext,
        *,
        clock: Callable[[], datetime],
        on_signal: Callable[[SignalInfo], None],
        fractional: bool = False,
    ) -> None:
        self._factory = factory
        self._ledger = ledger
        self._ctx = context
        self._now = clock
        self._on_signal = on_signal
        self._fractional = fractional

    def execute(self, bar: ClosedBar, intents: list[OrderIntent]) -> list[SignalInfo]:
        """Turn the intents decided at ``bar``'s close into signals and orders, in the order given."""
        out: list[SignalInfo] = []
        for intent in intents:
            if intent.kind in (IntentKind.CANCEL_ALL, IntentKind.TARGET):
                self.cancel_open(bar.symbol)
                if intent.kind is IntentKind.CANCEL_ALL:
                    continue
            signal = self._one(bar, intent)
            if signal is not None:
                out.append(signal)
                self._on_signal(signal)
        return out

    def cancel_open(self, symbol: str | None = None) -> int:
        """Cancel the session's working orders (on ``symbol``, or all); returns how many were asked to cancel."""
        asked = 0
        for order_id in records.open_entry_orders(self._factory, self._ctx.session_id, symbol):
            try:
                self._ledger.cancel_order(self._ctx.user_id, order_id)
                asked += 1
            except LedgerError as exc:  # already filled or cancelled meanwhile: nothing to do
                log.info("session %s: could not cancel %s: %s", self._ctx.session_id, order_id, exc)
        return asked

    def _one(self, bar: ClosedBar, intent: OrderIntent) -> SignalInfo | None:
        portfolio = self._ledger.portfolio(self._ctx.user_id)
        held = next((p.qty for p in portfolio.positions if p.symbol == bar.symbol), Decimal(0))
        account = AccountView(
            portfolio.cash, portfolio.equity, held, records.open_sell_qty(self._factory, self._ctx.user_id, bar.symbol)
        )
        sized = size_intent(intent, account, bar.close, fractional=self._fractional)
        if sized is None:
            return None
        meta: dict[str, Any] = {
            "intent": intent_dict(intent), "class_name": self._ctx.class_name, "bar_close": bar.close,
        }  # fmt: skip
        common: dict[str, Any] = {
            "session_id": self._ctx.session_id, "user_id": self._ctx.user_id, "symbol": bar.symbol,
            "bar_timestamp": bar.time,
        }  # fmt: skip
        if isinstance(sized, Refusal):
            return records.insert_signal(
                self._factory, **common, action=_ACTIONS[sized.side], quantity=None, metadata=meta, now=self._now(),
                status=REJECTED, reason=sized.reason,
            )  # fmt: skip
        meta["order"] = {
            "type": sized.type.value, "limit": _text(sized.limit_price), "stop": _text(sized.stop_price),
            "take_profit": _text(sized.take_profit_price), "stop_loss": _text(sized.stop_loss_price),
        }  # fmt: skip
        signal = records.insert_signal(
            self._factory, **common, action=_ACTIONS[sized.side], quantity=sized.qty, metadata=meta, now=self._now()
        )
        try:
            placed = self._ledger.place_order(
                self._ctx.user_id, sized.ticket(bar.symbol), session_id=self._ctx.session_id, signal_id=signal.id,
                strategy_id=self._ctx.strategy_id,
            )  # fmt: skip
        except OrderRejected as exc:
            return records.resolve_signal(self._factory, signal.id, REJECTED, now=self._now(), reason=exc.reason)
        except LedgerError as exc:
            return records.resolve_signal(self._factory, signal.id, REJECTED, now=self._now(), reason=str(exc))
        except Exception as exc:
            reason = f"The order could not be placed: {type(exc).__name__}: {exc}"
            try:
                records.resolve_signal(self._factory, signal.id, REJECTED, now=self._now(), reason=reason)
            except Exception:
                log.exception("could not mark signal %s rejected", signal.id)
            raise
        return records.resolve_signal(
            self._factory, signal.id, EXECUTED, now=self._now(), reason=placed.message, order_id=placed.id
        )


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
