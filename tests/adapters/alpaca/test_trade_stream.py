"""AlpacaBroker's trade-updates stream, through the real alpaca-py TradingStream, against the stand-in.

An asyncio loop runs in a thread of its own, standing in for the app's qasync loop;
the test thread plays the market through the stand-in's controls.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest

from core.adapters.alpaca.broker import AlpacaBroker
from core.domain.orders import OrderClass, OrderEventType, OrderRequest, OrderSide, OrderStatus, TimeInForce
from tests.alpaca_standin import AlpacaStandIn
from tests.event_recorder import DEADLINE_S, Recorder


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A running loop on its own thread, like the GUI's."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="test-loop", daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(DEADLINE_S)
    loop.close()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def broker(alpaca: AlpacaStandIn, loop: asyncio.AbstractEventLoop, recorder: Recorder) -> Iterator[AlpacaBroker]:
    broker = AlpacaBroker(
        alpaca.key_id,
        alpaca.secret_key,
        url_override=alpaca.rest_url,
        stream_url_override=alpaca.stream_url,
        timeout_s=3,
    )
    broker.add_event_handler(recorder)
    running = broker.start_stream(loop)
    assert alpaca.wait_for_listeners(1, DEADLINE_S)
    yield broker
    asyncio.run_coroutine_threadsafe(broker.stop_stream(), loop).result(DEADLINE_S)
    running.result(DEADLINE_S)
    assert broker.wait_for_dispatch(DEADLINE_S)


def _ident_on(loop: asyncio.AbstractEventLoop) -> int:
    async def ident() -> int:
        return threading.get_ident()

    return asyncio.run_coroutine_threadsafe(ident(), loop).result(DEADLINE_S)


def buy(qty: str = "10") -> OrderRequest:
    return OrderRequest(client_order_id=str(uuid.uuid4()), symbol="AAPL", side=OrderSide.BUY, qty=Decimal(qty))


def test_fills_arrive_on_the_dispatch_thread_with_cumulative_state(
    broker: AlpacaBroker, alpaca: AlpacaStandIn, recorder: Recorder, loop: asyncio.AbstractEventLoop
) -> None:
    order = broker.submit_order(buy("10"))
    alpaca.fill(order.id, qty="4", price="100.10")
    alpaca.fill(order.id, qty="6", price="100.20")
    new, partial, fill = recorder.wait_for(3)
    assert [new.type, partial.type, fill.type] == [OrderEventType.NEW, OrderEventType.PARTIAL_FILL, OrderEventType.FILL]
    assert (partial.qty, partial.price, partial.order.filled_qty) == (Decimal("4"), Decimal("100.10"), Decimal("4"))
    assert partial.order.status is OrderStatus.PARTIALLY_FILLED
    assert (fill.qty, fill.price, fill.order.filled_qty) == (Decimal("6"), Decimal("100.20"), Decimal("10"))
    assert fill.order.filled_avg_price == Decimal("100.16")
    assert fill.order.status is OrderStatus.FILLED
    assert partial.execution_id and fill.execution_id and partial.execution_id != fill.execution_id
    assert fill.order.client_order_id == order.client_order_id
    assert fill.timestamp.utcoffset() is not None
    assert _ident_on(loop) not in recorder.threads
    assert threading.get_ident() not in recorder.threads


def test_rejection_after_acceptance_arrives(broker: AlpacaBroker, alpaca: AlpacaStandIn, recorder: Recorder) -> None:
    order = broker.submit_order(buy())
    assert order.status is OrderStatus.PENDING_NEW  # Alpaca answers "accepted"; the rejection comes later
    alpaca.reject(order.id, "not enough shares to borrow")
    _, rejected = recorder.wait_for(2)
    assert rejected.type is OrderEventType.REJECTED
    assert rejected.order.status is OrderStatus.REJECTED
    assert rejected.order.id == order.id


def test_cancel_and_expire_arrive(broker: AlpacaBroker, alpaca: AlpacaStandIn, recorder: Recorder) -> None:
    first, second = broker.submit_order(buy()), broker.submit_order(buy())
    broker.cancel_order(first.id)
    alpaca.expire(second.id)
    events = recorder.wait_for(4)
    assert [(e.type.value, e.order.id) for e in events[2:]] == [("canceled", first.id), ("expired", second.id)]


def test_reconnects_after_dropped_connection(broker: AlpacaBroker, alpaca: AlpacaStandIn, recorder: Recorder) -> None:
    order = broker.submit_order(buy())
    recorder.wait_for(1)
    alpaca.drop_connections()
    assert alpaca.wait_for_listeners(1, timeout=DEADLINE_S, accepted_at_least=2), "no reconnection"
    alpaca.fill(order.id, price="99")
    events = recorder.wait_for(2)
    time.sleep(0.3)  # a second copy would have arrived by now
    assert recorder.kinds() == ["new", "fill"]
    assert events[1].order.filled_qty == Decimal("10")


def test_duplicated_events_are_delivered_as_duplicates(
    broker: AlpacaBroker, alpaca: AlpacaStandIn, recorder: Recorder
) -> None:
    order = broker.submit_order(buy())
    recorder.wait_for(1)
    alpaca.duplicate_events = True
    alpaca.fill(order.id, qty="3", price="100")
    _, first, second = recorder.wait_for(3)
    assert first == second
    assert first.type is OrderEventType.PARTIAL_FILL


def test_out_of_order_events_are_passed_on_in_arrival_order(
    broker: AlpacaBroker, alpaca: AlpacaStandIn, recorder: Recorder
) -> None:
    order = broker.submit_order(buy())
    recorder.wait_for(1)
    with alpaca.events_out_of_order():
        alpaca.fill(order.id, qty="4", price="100")
        alpaca.fill(order.id, qty="6", price="101")
    recorder.wait_for(3)
    assert recorder.kinds() == ["new", "fill", "partial_fill"]
    assert [e.order.filled_qty for e in recorder.events[1:]] == [Decimal("10"), Decimal("4")]


def test_bracket_take_profit_fill_cancels_the_stop_loss(
    broker: AlpacaBroker, alpaca: AlpacaStandIn, recorder: Recorder
) -> None:
    parent = broker.submit_order(
        OrderRequest(
            client_order_id="bracket-1",
            symbol="AAPL",
            side=OrderSide.BUY,
            qty=Decimal("5"),
            time_in_force=TimeInForce.GTC,
            order_class=OrderClass.BRACKET,
            take_profit_limit_price=Decimal("110"),
            stop_loss_stop_price=Decimal("95"),
        )
    )
    take_profit, stop_loss = parent.legs
    alpaca.fill(parent.id, price="100")
    alpaca.fill(take_profit.id, price="110")
    events = recorder.wait_for(6)
    assert [(e.type.value, e.order.id) for e in events] == [
        ("new", parent.id),
        ("fill", parent.id),
        ("new", take_profit.id),
        ("new", stop_loss.id),
        ("fill", take_profit.id),
        ("canceled", stop_loss.id),
    ]
    assert events[-1].order.parent_id == parent.id
    assert events[-1].order.status is OrderStatus.CANCELED
    assert broker.get_positions() == []


def test_run_stream_and_stop_stream_on_the_callers_loop(alpaca: AlpacaStandIn) -> None:
    """``await run_stream()`` in a task; ``stop_stream()`` ends it promptly; events get through first."""
    recorder = Recorder()
    broker = AlpacaBroker(
        alpaca.key_id,
        alpaca.secret_key,
        url_override=alpaca.rest_url,
        stream_url_override=alpaca.stream_url,
        timeout_s=3,
    )
    broker.add_event_handler(recorder)

    async def main() -> float:
        task = asyncio.create_task(broker.run_stream())
        assert await asyncio.to_thread(alpaca.wait_for_listeners, 1, DEADLINE_S)
        order = await asyncio.to_thread(broker.submit_order, buy())
        await asyncio.to_thread(alpaca.fill, order.id)
        await asyncio.to_thread(recorder.wait_for, 2)
        started = time.monotonic()
        await broker.stop_stream()
        await asyncio.wait_for(task, DEADLINE_S)
        return time.monotonic() - started

    assert asyncio.run(main()) < 2.0
    assert not broker.stream_running
    assert recorder.kinds() == ["new", "fill"]
    assert alpaca.wait_for_listeners(0, 1.0) and alpaca.listener_count == 0


def test_removed_handler_hears_nothing(broker: AlpacaBroker, alpaca: AlpacaStandIn, recorder: Recorder) -> None:
    other = Recorder()
    broker.add_event_handler(other)
    broker.remove_event_handler(other)
    broker.submit_order(buy())
    recorder.wait_for(1)
    assert other.events == []


def test_stop_stream_is_prompt_while_credentials_are_refused(alpaca: AlpacaStandIn) -> None:
    """alpaca-py keeps retrying a refused login with backoff; stopping must not wait for it."""
    broker = AlpacaBroker("wrong", "keys", url_override=alpaca.rest_url, stream_url_override=alpaca.stream_url)

    async def main() -> float:
        task = asyncio.create_task(broker.run_stream())
        await asyncio.sleep(0.5)
        started = time.monotonic()
        await broker.stop_stream()
        await asyncio.wait_for(task, DEADLINE_S)
        return time.monotonic() - started

    assert asyncio.run(main()) < 2.0
    assert alpaca.listener_count == 0
