"""A client killed mid-order, then restarted and settled: a real child process against the stand-in.

The child (``python -c``) opens the test database, places one order through Ledger + AlpacaBroker
against the stand-in running in this process, and dies with ``os._exit(1)`` at a chosen moment:
no cleanup, no stream, nothing flushed beyond what was committed. The parent then plays the market
and restarts: a new Ledger settles the user over REST, and the books must be exact.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from core.db.models import Order
from core.ledger.service import Ledger
from tests.alpaca_standin import AlpacaStandIn
from tests.ledger.helpers_alpaca import make_broker
from tests.ledger.helpers_books import assert_books_balance, fill_count, legs_of, order_row, position, user_row

D = Decimal
START = D("100000")
REPO = Path(__file__).resolve().parents[2]
CHILD_DEADLINE_S = 60

# Modes: "after_accept"   dies once place_order returned (order accepted, broker id recorded);
#        "after_submit"   dies right after the broker accepted, before the ledger recorded the answer;
#        "before_submit"  dies after reserving, before anything is sent;
#        "unreachable"    the broker cannot be reached at submit (connection refused), then dies.
CHILD = r"""
import json, os, sys, uuid
from decimal import Decimal
from core.adapters.alpaca.broker import AlpacaBroker
from core.domain.orders import Asset, OrderSide
from core.db.engine import make_engine, make_session_factory
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from core.domain.tickets import OrderTicket

e = os.environ
mode = e["SF_MODE"]
rest = e["SF_DEAD_URL"] if mode == "unreachable" else e["SF_REST_URL"]
broker = AlpacaBroker(e["SF_KEY"], e["SF_SECRET"], url_override=rest, timeout_s=5)
if mode == "unreachable":
    broker.get_asset = lambda symbol: Asset(symbol, tradable=True, fractionable=True)
real_submit = broker.submit_order
def submit(request):
    if mode == "before_submit":
        os._exit(1)
    placed = real_submit(request)
    if mode == "after_submit":
        os._exit(1)
    return placed
broker.submit_order = submit
ledger = Ledger(make_session_factory(make_engine(e["SF_DB_URL"])), broker, LastPrices({"AAPL": Decimal("100")}),
                subscribe=False)
bracket = {}
if e.get("SF_BRACKET"):
    from core.domain.orders import TimeInForce
    tp, sl = e["SF_BRACKET"].split(",")
    bracket = dict(take_profit_price=Decimal(tp), stop_loss_price=Decimal(sl), time_in_force=TimeInForce.GTC)
ticket = OrderTicket("AAPL", OrderSide.BUY, Decimal(e["SF_QTY"]), **bracket)
placed = ledger.place_order(uuid.UUID(e["SF_USER"]), ticket)
ledger.flush_acceptances()  # "after_accept": killed once the acceptance is written (its batch is a few ms late)
told = {"id": str(placed.id), "status": placed.status, "broker_order_id": placed.broker_order_id}
print(json.dumps(told), flush=True)
os._exit(1)
"""


def dead_url() -> str:
    """A loopback port nobody listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def run_child(
    db, alpaca: AlpacaStandIn, user_id: uuid.UUID, mode: str, qty: str = "4", bracket: str = ""
) -> dict | None:
    env = {
        **os.environ,
        "NO_PROXY": "127.0.0.1,localhost",
        "SF_MODE": mode,
        "SF_DB_URL": db.engine.url.render_as_string(hide_password=False),
        "SF_REST_URL": alpaca.rest_url,
        "SF_DEAD_URL": dead_url(),
        "SF_KEY": alpaca.key_id,
        "SF_SECRET": alpaca.secret_key,
        "SF_USER": str(user_id),
        "SF_QTY": qty,
        "SF_BRACKET": bracket,
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=REPO, env=env, capture_output=True, text=True, timeout=CHILD_DEADLINE_S
    )
    assert done.returncode == 1, f"child ended with {done.returncode}: {done.stderr[-3000:]}"
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def only_order(db, user_id: uuid.UUID) -> Order:
    with db.session_factory() as s:
        (order,) = s.scalars(select(Order).where(Order.user_id == user_id, Order.parent_order_id.is_(None))).all()
        return order


def restart(db, alpaca: AlpacaStandIn, prices) -> Ledger:
    """A fresh client: new broker, new ledger, nothing in memory from before the crash."""
    return Ledger(db.session_factory, make_broker(alpaca), prices)


def test_killed_after_acceptance_then_filled_while_down_settles_exactly_once(db, alpaca, prices, make_user):
    ann = make_user("ann")
    told = run_child(db, alpaca, ann, "after_accept")
    assert told is not None and told["status"] == "accepted"
    order = only_order(db, ann)
    assert (order.status, order.reserved_amount) == ("accepted", D("412"))
    assert order.broker_order_id == told["broker_order_id"]

    alpaca.fill(order.broker_order_id, qty="1", price="99")  # nobody listens: both updates are lost
    alpaca.fill(order.broker_order_id, qty="3", price="99.40")

    book = restart(db, alpaca, prices)
    assert book.settle_user(ann) > 0
    order = order_row(db, order.id)
    assert (order.status, order.filled_quantity, order.filled_avg_price, order.reserved_amount) == (
        "filled", D("4"), D("99.3"), D("0"),
    )  # fmt: skip
    assert fill_count(db, ann) == 1  # one merged execution, learned by REST
    pos = position(db, ann)
    assert (pos.quantity, pos.cost_basis) == (D("4"), D("397.20"))
    u = user_row(db, ann)
    assert (u.virtual_balance, u.reserved_balance) == (START - D("397.20"), D("0"))
    assert book.settle_user(ann) == 0
    assert restart(db, alpaca, prices).settle_user(ann) == 0  # yet another restart changes nothing
    assert_books_balance(db, ann)


def test_killed_after_the_broker_accepted_but_before_recording_it(db, alpaca, prices, make_user):
    ben = make_user("ben")
    assert run_child(db, alpaca, ben, "after_submit") is None  # died inside place_order
    order = only_order(db, ben)
    assert (order.status, order.broker_order_id, order.reserved_amount) == ("pending", None, D("412"))
    remote = alpaca.account.get_by_client_id(order.client_order_id)  # it did reach the broker
    alpaca.fill(remote.id, price="101")

    book = restart(db, alpaca, prices)
    assert book.settle_user(ben) > 0
    order = order_row(db, order.id)
    assert (order.status, order.broker_order_id, order.filled_quantity, order.reserved_amount) == (
        "filled", remote.id, D("4"), D("0"),
    )  # fmt: skip
    assert fill_count(db, ben) == 1
    assert position(db, ben).cost_basis == D("404")
    assert user_row(db, ben).virtual_balance == START - D("404")
    assert book.settle_user(ben) == 0
    assert_books_balance(db, ben)


@pytest.mark.parametrize("mode", ["before_submit", "unreachable"])
def test_killed_before_the_order_reached_the_broker_settlement_releases_it(db, alpaca, prices, make_user, mode):
    cal = make_user("cal")
    told = run_child(db, alpaca, cal, mode)
    if mode == "unreachable":
        assert told is not None and told["status"] == "pending"
    order = only_order(db, cal)
    assert (order.status, order.reserved_amount) == ("pending", D("412"))
    assert user_row(db, cal).reserved_balance == D("412")
    assert alpaca.request_count("POST /v2/orders") == 0

    book = restart(db, alpaca, prices)
    assert book.settle_user(cal) == 1
    order = order_row(db, order.id)
    assert (order.status, order.error_message, order.reserved_amount) == (
        "rejected", "The order never reached the broker.", D("0"),
    )  # fmt: skip
    u = user_row(db, cal)
    assert (u.virtual_balance, u.reserved_balance) == (START, D("0"))
    assert fill_count(db, cal) == 0 and position(db, cal) is None
    assert book.settle_user(cal) == 0
    assert_books_balance(db, cal)


def test_settlement_after_a_crash_does_not_touch_other_users(db, alpaca, prices, make_user):
    dee, eve = make_user("dee"), make_user("eve")
    run_child(db, alpaca, dee, "after_accept")
    run_child(db, alpaca, eve, "after_accept", qty="2")
    dee_order, eve_order = only_order(db, dee), only_order(db, eve)
    alpaca.fill(dee_order.broker_order_id, price="100")
    alpaca.fill(eve_order.broker_order_id, price="100")

    book = restart(db, alpaca, prices)
    assert book.settle_user(dee) > 0
    assert order_row(db, eve_order.id).status == "accepted"  # eve's client settles eve's orders
    assert user_row(db, eve).reserved_balance == D("206")
    assert book.settle_user(eve) > 0
    assert (position(db, dee).quantity, position(db, eve).quantity) == (D("4"), D("2"))
    assert_books_balance(db, dee, eve)


@pytest.mark.parametrize("mode", ["after_accept", "after_submit"])
def test_a_bracket_that_entered_and_took_profit_while_the_client_was_down(db, alpaca, prices, make_user, mode):
    fay = make_user("fay")
    run_child(db, alpaca, fay, mode, qty="5", bracket="110,95")
    entry = only_order(db, fay)
    remote = alpaca.account.get_by_client_id(entry.client_order_id)
    take_profit, stop_loss = remote.leg_ids
    alpaca.fill(remote.id, price="100")
    alpaca.fill(take_profit, price="110")  # the stop-loss is canceled (OCO)

    book = restart(db, alpaca, prices)
    assert book.settle_user(fay) > 0
    assert book.settle_user(fay) == 0
    legs = legs_of(db, entry.id)
    assert {r: (o.status, o.filled_quantity, o.broker_order_id) for r, o in legs.items()} == {
        "take_profit": ("filled", D("5"), take_profit),
        "stop_loss": ("canceled", D("0"), stop_loss),
    }
    assert order_row(db, entry.id).status == "filled"
    assert fill_count(db, fay) == 2
    pos = position(db, fay)
    assert (pos.quantity, pos.realized_pnl, pos.status) == (D("0"), D("50"), "CLOSED")
    u = user_row(db, fay)
    assert (u.virtual_balance, u.reserved_balance) == (START + D("50"), D("0"))
    assert_books_balance(db, fay)
