"""SimBroker: an in-process broker that fills orders against bars with the shared fill model.

It stands in for Alpaca in simulated sessions and tests, so it behaves like one real shared
account: it keeps the aggregate cash and positions, and the ledger splits them into virtual
accounts exactly as it does for Alpaca.

Time. The sequence of bars is the simulation's time axis: an order may only fill on a bar of its
symbol whose open time is later than the latest bar the broker had seen for that symbol when the
order was submitted (the first bar at all if none had been seen). That is the "next bar" rule that
keeps a strategy from filling at the signal bar's close. Bars older than or equal to the latest
seen bar of a symbol are ignored (a replayed or duplicated bar must not fill anything twice).
The clock function only stamps orders and decides DAY expiry.

Simplifications (an exchange calendar comes later):
* DAY orders expire at the first bar of their symbol whose open time is on a later UTC date than
  the order's submission; bars in between fill them normally.
* ``get_clock`` always reports the market open, next_open = now, next_close = next UTC midnight.
* IOC and FOK orders get exactly one bar: the first eligible one. IOC fills what it can there and
  the rest is canceled; FOK fills in full there or is canceled.
* No buying-power checks (the ledger applies per-virtual-account risk rules). Short sales are
  checked as Alpaca checks them (``validate_short``): a sell beyond the account's free long shares
  (its position less the rest of its working sells, bracket legs aside) needs a shortable, easy-to-
  borrow asset and whole shares. Positions are signed; one order may take the account through zero.
* Unknown symbols are tradable, fractionable, shortable and easy to borrow (the simulated market can
  invent any symbol); pass ``assets`` or call ``set_asset`` to say otherwise.

Brackets. The entry is the parent; its take-profit (LIMIT) and stop-loss (STOP, or STOP_LIMIT when
``stop_loss_limit_price`` is given) legs are created HELD with ``parent_id`` set and client order ids
``<parent client id>-tp`` / ``-sl``. When the entry fills completely they become NEW (NEW events are
emitted) for the filled quantity and are eligible from the bar after the fill bar. If the entry ends
partially filled (canceled/expired/IOC) the legs are activated for the filled quantity, protecting
what was bought; if it ends unfilled the legs are canceled. Both working legs are evaluated together
with ``evaluate_bracket_exit`` (stop-loss first when the bar cannot tell), and the first execution
of one leg cancels the other.

Event timestamps: NEW and request-driven CANCELED events carry the clock's time; events produced by
``on_bar`` carry the bar's close time (``bar.end``), when the broker learns what happened inside it.
``filled_avg_price`` is quantized to 6 decimal places.

Events are delivered synchronously in the calling thread after the internal lock is released, so a
handler may call back into the broker. Calls from several threads may interleave their deliveries.
Test knobs: ``reject_after_accept``, ``duplicate_events`` and ``hold_events``/``release_events``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from core.broker.errors import BrokerRejected, OrderNotFound
from core.broker.fill_model import BracketLeg, FillDecision, FillModel, evaluate_bracket_exit
from core.broker.fill_prices import to_decimal
from core.broker.protocol import EventHandler
from core.broker.sim_account import SimAccount
from core.broker.sim_events import BatchHandler, EventDispatcher, EventHold, ReleaseOrder
from core.broker.sim_orders import SimOrder, validate_request, validate_short
from core.domain.bars import NormalizedBar
from core.domain.orders import (
    Account,
    Asset,
    BrokerOrder,
    BrokerPosition,
    Clock,
    OrderClass,
    OrderEvent,
    OrderEventType,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)

DEFAULT_INITIAL_CASH = Decimal("1000000")
REJECT_AFTER_ACCEPT_REASON = "rejected by the broker after acceptance (simulated)"

RejectRule = Callable[[OrderRequest], bool]

_TERMINAL_EVENT = {
    OrderStatus.CANCELED: OrderEventType.CANCELED,
    OrderStatus.EXPIRED: OrderEventType.EXPIRED,
    OrderStatus.REJECTED: OrderEventType.REJECTED,
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return str(uuid.uuid4())


class SimBroker:
    """The Broker protocol over the shared fill model; feed it bars with ``on_bar``."""

    name = "sim"

    def __init__(
        self,
        fill_model: FillModel | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
        initial_cash: Decimal = DEFAULT_INITIAL_CASH,
        assets: Mapping[str, Asset] | None = None,
        reject_after_accept: Iterable[str] | RejectRule | None = None,
        duplicate_events: bool = False,
    ) -> None:
        """``reject_after_accept``: client order ids (or a predicate on the request) of orders that are
        accepted (NEW) and then REJECTED on their first eligible bar, as Alpaca occasionally does."""
        self.fill_model = fill_model or FillModel()
        self._clock = clock
        self._assets: dict[str, Asset] = dict(assets or {})
        if reject_after_accept is None:
            self._reject_rule: RejectRule = lambda _request: False
        elif callable(reject_after_accept):
            self._reject_rule = reject_after_accept
        else:
            ids = [reject_after_accept] if isinstance(reject_after_accept, str) else reject_after_accept
            rejected_ids = frozenset(ids)
            self._reject_rule = lambda request: request.client_order_id in rejected_ids
        self._lock = threading.Lock()
        self._events = EventDispatcher(duplicate=duplicate_events)
        self._account = SimAccount(cash=initial_cash)
        self._orders: dict[str, SimOrder] = {}
        self._by_client_id: dict[str, SimOrder] = {}
        # Orders not yet final, per symbol, in submission order: a bar looks at these, not at every order ever.
        self._live: dict[str, dict[str, SimOrder]] = {}
        self._last_bar: dict[str, datetime] = {}
        self._seq = 0

    # ----- test knobs -----------------------------------------------------------------------------

    @property
    def duplicate_events(self) -> bool:
        return self._events.duplicate

    @duplicate_events.setter
    def duplicate_events(self, value: bool) -> None:
        self._events.duplicate = value

    def hold_events(self, release_order: ReleaseOrder = "fifo") -> EventHold:
        """Queue events from now on; ``with broker.hold_events("reversed"):`` releases them on exit."""
        return self._events.hold(release_order)

    def release_events(self, order: ReleaseOrder = "fifo") -> None:
        """Deliver held events ("fifo", "reversed", or a callable reordering the list) and stop holding."""
        self._events.release(order)

    def set_asset(self, asset: Asset) -> None:
        with self._lock:
            self._assets[asset.symbol] = asset

    # ----- Broker protocol ------------------------------------------------------------------------

    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        with self._lock:
            asset = self._asset(request.symbol)
            validate_request(request, asset)
            validate_short(request, asset, self._account.position_qty(request.symbol), self._open_sells(request.symbol))
            leg_client_ids = _leg_client_ids(request)
            for client_id in (request.client_order_id, *leg_client_ids):
                if client_id in self._by_client_id:
                    raise BrokerRejected(f"client_order_id {client_id!r} must be unique")
            now = self._now()
            order = self._new_order(request.client_order_id, request, now)
            order.order_class = request.order_class
            order.reject_pending = bool(self._reject_rule(request))
            if request.order_class is OrderClass.BRACKET:
                order.leg_ids = self._create_legs(order, request, leg_client_ids, now)
            snapshot = self._snapshot(order)
            events = [OrderEvent(OrderEventType.NEW, snapshot, now)]
        self._events.deliver(events)
        return snapshot

    def cancel_order(self, order_id: str) -> None:
        with self._lock:
            order = self._get(order_id)
            if order.is_terminal:
                raise BrokerRejected(f"order is not cancelable (status {order.status})")
            events: list[OrderEvent] = []
            self._finish(order, OrderStatus.CANCELED, "canceled by request", self._now(), events)
        self._events.deliver(events)

    def get_order(self, order_id: str) -> BrokerOrder:
        with self._lock:
            return self._snapshot(self._get(order_id))

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder:
        with self._lock:
            order = self._by_client_id.get(client_order_id)
            if order is None:
                raise OrderNotFound(f"no order with client_order_id {client_order_id!r}")
            return self._snapshot(order)

    def list_open_orders(self) -> list[BrokerOrder]:
        """Every non-terminal order, bracket legs (HELD or working) included, in submission order."""
        with self._lock:
            live = (o for orders in self._live.values() for o in orders.values())
            return [self._snapshot(o) for o in sorted(live, key=_seq) if not o.is_terminal]

    def get_account(self) -> Account:
        with self._lock:
            return self._account.account()

    def get_positions(self) -> list[BrokerPosition]:
        with self._lock:
            return self._account.positions()

    def get_clock(self) -> Clock:
        now = self._now()
        midnight = datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=UTC)
        return Clock(timestamp=now, is_open=True, next_open=now, next_close=midnight)

    def get_asset(self, symbol: str) -> Asset:
        with self._lock:
            return self._asset(symbol)

    def add_event_handler(self, handler: EventHandler) -> None:
        self._events.add(handler)

    def remove_event_handler(self, handler: EventHandler) -> None:
        self._events.remove(handler)

    def add_batch_handler(self, handler: BatchHandler) -> None:
        """Not in the Broker protocol: ``handler`` gets each delivery's events (a bar's fills) in one call."""
        self._events.add_batch(handler)

    def remove_batch_handler(self, handler: BatchHandler) -> None:
        self._events.remove_batch(handler)

    # ----- the market -----------------------------------------------------------------------------

    def on_bar(self, bar: NormalizedBar) -> None:
        """Process the working orders of ``bar.symbol`` (in submission order) against this closed bar."""
        events: list[OrderEvent] = []
        with self._lock:
            last = self._last_bar.get(bar.symbol)
            if last is not None and bar.timestamp <= last:
                return
            self._account.mark(bar.symbol, to_decimal(bar.close))
            done: set[str] = set()
            live = self._live.get(bar.symbol, {})
            candidates = sorted(live.values(), key=_seq)
            for order in candidates:
                if order.id in done or not order.is_working or not _eligible(order, bar):
                    continue
                done.add(order.id)
                self._process(order, bar, done, events)
            self._last_bar[bar.symbol] = bar.timestamp
            for order in candidates:
                if order.is_terminal:
                    del live[order.id]
        self._events.deliver(events)

    # ----- internals (all called with the lock held) ----------------------------------------------

    def _process(self, order: SimOrder, bar: NormalizedBar, done: set[str], events: list[OrderEvent]) -> None:
        at = bar.end  # the broker learns what happened inside a bar when it closes
        if order.reject_pending:
            self._finish(order, OrderStatus.REJECTED, REJECT_AFTER_ACCEPT_REASON, at, events)
            return
        if order.time_in_force is TimeInForce.DAY and bar.timestamp.date() > order.submitted_at.date():
            self._finish(order, OrderStatus.EXPIRED, "day order expired", at, events)
            return
        sibling = self._sibling(order)
        if sibling is not None and sibling.is_working and _eligible(sibling, bar) and sibling.id not in done:
            done.add(sibling.id)
            if sibling.time_in_force is TimeInForce.DAY and bar.timestamp.date() > sibling.submitted_at.date():
                self._finish(sibling, OrderStatus.EXPIRED, "day order expired", at, events)
            else:
                self._process_bracket_pair(order, sibling, bar, events)
                return
        decision = self.fill_model.evaluate(order.working(), bar)
        if order.time_in_force is TimeInForce.FOK and (decision is None or decision.qty < order.remaining):
            self._finish(order, OrderStatus.CANCELED, "FOK order could not fill in full on the next bar", at, events)
            return
        if decision is not None:
            self._apply(order, decision, bar, events)
        if order.time_in_force is TimeInForce.IOC and order.is_working:
            self._finish(order, OrderStatus.CANCELED, "IOC order: unfilled quantity canceled", at, events)

    def _process_bracket_pair(self, a: SimOrder, b: SimOrder, bar: NormalizedBar, events: list[OrderEvent]) -> None:
        take_profit, stop_loss = (a, b) if a.type is OrderType.LIMIT else (b, a)
        exit_ = evaluate_bracket_exit(self.fill_model, take_profit.working(), stop_loss.working(), bar)
        if exit_ is not None:
            leg = take_profit if exit_.leg is BracketLeg.TAKE_PROFIT else stop_loss
            self._apply(leg, exit_.decision, bar, events)

    def _apply(self, order: SimOrder, decision: FillDecision, bar: NormalizedBar, events: list[OrderEvent]) -> None:
        if decision.triggered:
            order.stop_triggered = True
        if not decision.filled:
            return
        assert decision.price is not None
        at = bar.end
        order.filled_qty += decision.qty
        order.filled_notional += decision.price * decision.qty
        order.filled_fees += decision.fee
        order.status = OrderStatus.FILLED if order.remaining == 0 else OrderStatus.PARTIALLY_FILLED
        order.updated_at = at
        self._account.apply_fill(order.symbol, order.side, decision.qty, decision.price, decision.fee)
        kind = OrderEventType.FILL if order.status is OrderStatus.FILLED else OrderEventType.PARTIAL_FILL
        events.append(
            OrderEvent(
                kind,
                self._snapshot(order),
                at,
                execution_id=_new_id(),
                price=decision.price,
                qty=decision.qty,
                fee=decision.fee,
            )
        )
        sibling = self._sibling(order)
        if sibling is not None and not sibling.is_terminal:
            self._finish(sibling, OrderStatus.CANCELED, "bracket: the other exit filled", at, events)
        if order.status is OrderStatus.FILLED and order.leg_ids:
            self._activate_legs(order, bar.timestamp, events)

    def _finish(
        self, order: SimOrder, status: OrderStatus, reason: str, at: datetime, events: list[OrderEvent]
    ) -> None:
        """Move ``order`` to a terminal status (not FILLED) and settle its HELD legs."""
        order.status = status
        order.updated_at = max(at, order.updated_at)
        events.append(OrderEvent(_TERMINAL_EVENT[status], self._snapshot(order), at, reason=reason))
        held = [self._orders[i] for i in order.leg_ids if self._orders[i].status is OrderStatus.HELD]
        if not held:
            return
        if order.filled_qty > 0:
            self._activate_legs(order, self._last_bar.get(order.symbol), events)
        else:
            for leg in held:
                self._finish(leg, OrderStatus.CANCELED, "bracket entry did not fill", at, events)

    def _activate_legs(self, parent: SimOrder, fill_bar_open: datetime | None, events: list[OrderEvent]) -> None:
        now = self._now()
        for leg_id in parent.leg_ids:
            leg = self._orders[leg_id]
            if leg.status is not OrderStatus.HELD:
                continue
            leg.qty = parent.filled_qty
            leg.status = OrderStatus.NEW
            leg.submitted_at = leg.updated_at = now
            leg.eligible_after = fill_bar_open
            events.append(OrderEvent(OrderEventType.NEW, self._snapshot(leg), now))

    def _create_legs(
        self, parent: SimOrder, request: OrderRequest, client_ids: tuple[str, ...], now: datetime
    ) -> tuple[str, ...]:
        exit_side = OrderSide.SELL if request.side is OrderSide.BUY else OrderSide.BUY
        tp = self._new_order(client_ids[0], request, now, side=exit_side, type_=OrderType.LIMIT)
        tp.limit_price, tp.stop_price = request.take_profit_limit_price, None
        sl_type = OrderType.STOP if request.stop_loss_limit_price is None else OrderType.STOP_LIMIT
        sl = self._new_order(client_ids[1], request, now, side=exit_side, type_=sl_type)
        sl.limit_price, sl.stop_price = request.stop_loss_limit_price, request.stop_loss_stop_price
        for leg in (tp, sl):
            leg.status = OrderStatus.HELD
            leg.order_class = OrderClass.BRACKET
            leg.parent_id = parent.id
        return (tp.id, sl.id)

    def _new_order(
        self,
        client_order_id: str,
        request: OrderRequest,
        now: datetime,
        side: OrderSide | None = None,
        type_: OrderType | None = None,
    ) -> SimOrder:
        self._seq += 1
        order = SimOrder(
            id=_new_id(),
            client_order_id=client_order_id,
            symbol=request.symbol,
            side=side or request.side,
            qty=request.qty,
            type=type_ or request.type,
            time_in_force=request.time_in_force,
            status=OrderStatus.NEW,
            submitted_at=now,
            updated_at=now,
            seq=self._seq,
            limit_price=request.limit_price,
            stop_price=request.stop_price,
            eligible_after=self._last_bar.get(request.symbol),
        )
        self._orders[order.id] = order
        self._by_client_id[client_order_id] = order
        self._live.setdefault(order.symbol, {})[order.id] = order
        return order

    def _sibling(self, order: SimOrder) -> SimOrder | None:
        if order.parent_id is None:
            return None
        parent = self._orders[order.parent_id]
        return next((self._orders[i] for i in parent.leg_ids if i != order.id), None)

    def _snapshot(self, order: SimOrder) -> BrokerOrder:
        return order.snapshot(tuple(self._orders[i].snapshot() for i in order.leg_ids))

    def _get(self, order_id: str) -> SimOrder:
        order = self._orders.get(order_id)
        if order is None:
            raise OrderNotFound(f"no order with id {order_id!r}")
        return order

    def _asset(self, symbol: str) -> Asset:
        return self._assets.get(symbol) or Asset(
            symbol=symbol, tradable=True, fractionable=True, shortable=True, easy_to_borrow=True
        )

    def _open_sells(self, symbol: str) -> Decimal:
        """What the working sells of ``symbol`` still promise (bracket legs aside: they protect the entry)."""
        live = self._live.get(symbol, {}).values()
        return sum(
            (o.remaining for o in live if o.side is OrderSide.SELL and o.parent_id is None and not o.is_terminal),
            Decimal("0"),
        )

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"SimBroker clock returned a naive datetime {now.isoformat()}")
        return now.astimezone(UTC)


def _seq(order: SimOrder) -> int:
    return order.seq


def _eligible(order: SimOrder, bar: NormalizedBar) -> bool:
    return order.eligible_after is None or bar.timestamp > order.eligible_after


def _leg_client_ids(request: OrderRequest) -> tuple[str, ...]:
    if request.order_class is not OrderClass.BRACKET:
        return ()
    return (f"{request.client_order_id}-tp", f"{request.client_order_id}-sl")
