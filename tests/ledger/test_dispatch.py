"""EventWorkers: events of one order stay in order, different orders run in parallel, failures are contained."""

from __future__ import annotations

import threading
from dataclasses import replace
from decimal import Decimal

from core.domain.orders import BrokerOrder, OrderEvent, OrderEventType, OrderSide, OrderStatus, OrderType, TimeInForce
from core.ledger.dispatch import EventWorkers
from tests.ledger.manual_broker import T0

BASE = BrokerOrder(
    id="b", client_order_id="c", symbol="AAPL", side=OrderSide.BUY, qty=Decimal(10), type=OrderType.MARKET,
    time_in_force=TimeInForce.DAY, status=OrderStatus.NEW, filled_qty=Decimal(0), filled_avg_price=None,
    submitted_at=T0, updated_at=T0,
)  # fmt: skip


def event(client_id: str, n: int) -> OrderEvent:
    return OrderEvent(OrderEventType.PARTIAL_FILL, replace(BASE, client_order_id=client_id), T0, execution_id=str(n))


def test_per_order_order_is_kept_and_failures_do_not_stop_the_workers():
    seen: dict[str, list[str]] = {}
    threads: set[str] = set()
    lock = threading.Lock()

    def apply(e: OrderEvent) -> None:
        if e.execution_id == "boom":
            raise RuntimeError("a broken event")
        with lock:
            seen.setdefault(e.order.client_order_id, []).append(e.execution_id or "")
            threads.add(threading.current_thread().name)

    workers = EventWorkers(apply, workers=3)
    try:
        workers(OrderEvent(OrderEventType.NEW, BASE, T0, execution_id="boom"))
        for n in range(50):
            for client_id in ("o1", "o2", "o3", "o4", "o5"):
                workers(event(client_id, n))
        assert workers.drain(timeout=10)
    finally:
        workers.stop()
    assert set(seen) == {"o1", "o2", "o3", "o4", "o5"}
    assert all(ids == [str(n) for n in range(50)] for ids in seen.values())
    assert len(threads) > 1
