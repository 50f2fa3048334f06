"""From a strategy's intents at one closed bar to signals and orders, through the ledger.

Each intent that asks for a trade becomes a ``signals`` row first (PENDING, stamped with the bar's open time,
the intent kept in its metadata), then an order placed by ``Ledger.place_order`` carrying the session, the
signal and the strategy; the signal ends EXECUTED (the ledger placed the order; fills follow from the broker)
or REJECTED with the reason the risk chain, the broker or the sizing gave. A signal is therefore on disk before
the order exists, and an order always points back at the signal that asked for it.

A target first cancels the session's working orders on that symbol (in a backtest a target replaces whatever
was working); CANCEL_ALL cancels them and records no signal. Bracket legs are never cancelled here: they
protect a position already bought.

Intents are sized against the session's own book (``core.paper.book``), never the trader's whole account: the
book read for the decision serves its intents until an order is placed or cancelled, after which it is read
again (the reservations and open sells changed).

Orders are placed and cancelled through an ``OrderDesk``: the Ledger itself (solo mode), or in a club a trader's
``RequestedOrders`` (the club service places them through the same ledger and answers with the same refusals);
the ledger is still read directly for prices.
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
from core.ledger.views import OrderDesk
from core.paper import records
from core.paper.bars import ClosedBar
from core.paper.book import SessionBook, load_book
from core.paper.live_host import intent_dict
from core.paper.rejections import SIZING_RULE, RejectionRuns, with_setting
from core.paper.sizing import AccountView, Refusal, size_intent
from core.paper.types import EXECUTED, REJECTED, PaperSessionError, SignalInfo
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
        orders: OrderDesk | None = None,
    ) -> None:
        self._factory = factory
        self._ledger = ledger
        self._orders: OrderDesk = orders if orders is not None else ledger
        self._ctx = context
        self._now = clock
        self._on_signal = on_signal
        self._fractional = fractional
        self._runs = RejectionRuns()  # each symbol's refusals in a row, said once (core.paper.rejections)

    def book(self) -> SessionBook:
        """The session's own book now (one query), its positions at the ledger's last prices."""
        return load_book(self._factory, self._ctx.user_id, self._ctx.session_id, self._ledger.last_price)

    def execute(self, bar: ClosedBar, intents: list[OrderIntent], book: SessionBook | None = None) -> list[SignalInfo]:
        """Turn the intents decided at ``bar``'s close into signals and orders, in the order given; ``book`` is
        the session's book the decision was made on (read here when not given)."""
        out: list[SignalInfo] = []
        current = book
        for intent in intents:
            if intent.kind in (IntentKind.CANCEL_ALL, IntentKind.TARGET):
                if self.cancel_open(bar.symbol):
                    current = None
                if intent.kind is IntentKind.CANCEL_ALL:
                    continue
            if current is None:
                current = self.book()
            signal = self._one(bar, intent, current)
            if signal is not None:
                if signal.order_id is not None:
                    current = None
                out.append(signal)
                self._on_signal(signal)
        return out

    def cancel_open(self, symbol: str | None = None) -> int:
        """Cancel the session's working orders (on ``symbol``, or all); returns how many were asked to cancel."""
        asked = 0
        open_orders = records.open_entry_orders(self._factory, self._ctx.session_id, symbol, user_id=self._ctx.user_id)
        for order_id in open_orders:
            try:
                self._orders.cancel_order(self._ctx.user_id, order_id)
                asked += 1
            except LedgerError as exc:  # already filled or cancelled meanwhile: nothing to do
                log.info("session %s: could not cancel %s: %s", self._ctx.session_id, order_id, exc)
        return asked

    def _one(self, bar: ClosedBar, intent: OrderIntent, book: SessionBook) -> SignalInfo | None:
        sized = size_intent(intent, AccountView.of(book, bar.symbol), bar.close, fractional=self._fractional)
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
            signal = records.insert_signal(
                self._factory, **common, action=_ACTIONS[sized.side], quantity=None, metadata=meta, now=self._now(),
            )  # fmt: skip
            return self._reject(signal, sized.side, sized.reason, SIZING_RULE)
        meta["order"] = {
            "type": sized.type.value, "limit": _text(sized.limit_price), "stop": _text(sized.stop_price),
            "take_profit": _text(sized.take_profit_price), "stop_loss": _text(sized.stop_loss_price),
        }  # fmt: skip
        if sized.trimmed_from is not None:  # said on the signal, not trimmed quietly
            meta["order"]["trimmed_from"] = _text(sized.trimmed_from)
        signal = records.insert_signal(
            self._factory, **common, action=_ACTIONS[sized.side], quantity=sized.qty, metadata=meta, now=self._now()
        )
        try:
            placed = self._orders.place_order(
                self._ctx.user_id, sized.ticket(bar.symbol), session_id=self._ctx.session_id, signal_id=signal.id,
                strategy_id=self._ctx.strategy_id,
            )  # fmt: skip
        except OrderRejected as exc:
            return self._reject(signal, sized.side, exc.reason, exc.rule)
        except LedgerError as exc:
            return self._reject(signal, sized.side, str(exc), "ledger")
        except Exception as exc:
            reason = f"The order could not be placed: {type(exc).__name__}: {exc}"
            try:
                records.resolve_signal(self._factory, signal.id, REJECTED, now=self._now(), reason=reason,
                                       user_id=self._ctx.user_id)  # fmt: skip
            except Exception:
                log.exception("could not mark signal %s rejected", signal.id)
            raise
        self._runs.ended(bar.symbol)
        notes = [note for note in (sized.notice, placed.message) if note]
        return records.resolve_signal(
            self._factory, signal.id, EXECUTED, now=self._now(), reason=" ".join(notes) or None, order_id=placed.id,
            user_id=self._ctx.user_id,
        )

    def _reject(self, signal: SignalInfo, side: OrderSide, reason: str, rule: str) -> SignalInfo:
        """Settle ``signal`` REJECTED; a refusal that repeats the symbol's last one (same side, same rule) joins
        its run, and the run's first signal, updated, is what comes back (core.paper.rejections)."""
        shown = with_setting(reason, rule)
        run = self._runs.refused(signal.symbol, side, rule)
        if run is not None:
            try:
                return records.repeat_rejection(
                    self._factory, signal.id, run.first, now=self._now(), reason=shown, rule=rule, count=run.count,
                    user_id=self._ctx.user_id,
                )  # fmt: skip
            except PaperSessionError:  # the run's first signal is gone: this one starts a new run
                pass
        settled = records.resolve_signal(
            self._factory, signal.id, REJECTED, now=self._now(), reason=shown, user_id=self._ctx.user_id,
            metadata={"rule": rule},
        )  # fmt: skip
        self._runs.started(signal.symbol, side, rule, signal.id)
        return settled


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
