"""Real-money orders: named, confirmed once by the account's label, checked against the real account, fills once."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from core.db.models import Fill, Position, RiskSettings, User
from core.domain.orders import OrderEvent, OrderEventType, OrderStatus
from core.ledger.service import ledger_channel
from core.services.broker_accounts import BrokerAccounts, LoginNeeded
from core.services.real_money_orders import (
    RealMoneyOrders,
    RealOrderRefused,
    RealOrderTicket,
    execution_key,
    in_rupees,
)
from tests.broker_accounts.conftest import Clock, kite_fields, link_and_log_in
from tests.broker_accounts.standin import API_KEY, GOOD_TOKEN, SimMarket

D = Decimal


def limit_buy(qty: str = "10", price: str = "1500.05", symbol: str = "NSE:INFY") -> RealOrderTicket:
    return RealOrderTicket.parse(symbol, "buy", qty, "limit", limit_price=price)


def test_the_confirmation_names_the_broker_the_account_and_the_exact_order(
    links: BrokerAccounts, orders: RealMoneyOrders, market: SimMarket, make_user
) -> None:
    ada = make_user("ada")
    link = link_and_log_in(links, ada)
    confirmation = orders.preview(ada, link, limit_buy())
    assert confirmation.account_text() == "Zerodha (Kite Connect) · 'Kite main' · account ZX1234"
    assert confirmation.order_text() == "BUY 10 NSE:INFY · LIMIT ₹1,500.05 · DAY · product CNC"
    assert confirmation.estimated_value == D("15000.5")
    assert confirmation.expires_at - confirmation.created_at == timedelta(seconds=60)
    assert confirmation.token not in repr(confirmation)
    assert links.get(ada, link).broker_account_id == "ZX1234"
    assert market.submitted == []  # a preview sends nothing


def test_the_confirmed_order_reaches_the_real_account_once(
    links: BrokerAccounts, orders: RealMoneyOrders, market: SimMarket, make_user
) -> None:
    ada = make_user("ada")
    link = link_and_log_in(links, ada)
    confirmation = orders.preview(ada, link, limit_buy())
    placed = orders.place(confirmation, " Kite main ")
    [sent] = market.submitted
    assert (sent.symbol, sent.side.value, sent.qty, sent.type.value, sent.limit_price) == (
        "NSE:INFY", "buy", D("10"), "limit", D("1500.05"),
    )  # fmt: skip
    assert placed.status == OrderStatus.NEW.value and placed.client_order_id == sent.client_order_id
    assert placed.message == (
        "BUY 10 NSE:INFY · LIMIT ₹1,500.05 · DAY sent to Zerodha (Kite Connect) account 'Kite main': new."
    )
    with pytest.raises(RealOrderRefused, match="already used"):
        orders.place(confirmation, "Kite main")
    assert len(market.submitted) == 1


def test_a_wrongly_typed_label_is_refused_and_nothing_is_sent(
    links: BrokerAccounts, orders: RealMoneyOrders, market: SimMarket, make_user
) -> None:
    ada = make_user("ada")
    link = link_and_log_in(links, ada)
    confirmation = orders.preview(ada, link, limit_buy())
    for typed in ("kite main", "Kite", "", "Kite main!"):
        with pytest.raises(RealOrderRefused, match="Type the account's name, 'Kite main', exactly"):
            orders.place(confirmation, typed)
    assert market.submitted == []
    orders.place(confirmation, "Kite main")  # a typo does not spend the confirmation
    assert len(market.submitted) == 1


def test_an_expired_confirmation_is_refused_and_nothing_is_sent(
    links: BrokerAccounts, orders: RealMoneyOrders, market: SimMarket, clock: Clock, make_user
) -> None:
    ada = make_user("ada")
    link = link_and_log_in(links, ada)
    confirmation = orders.preview(ada, link, limit_buy())
    clock.now += timedelta(seconds=60)
    with pytest.raises(RealOrderRefused, match="expired after 60 s"):
        orders.place(confirmation, "Kite main")
    clock.now -= timedelta(seconds=30)  # nor does going back revive it: its token is spent
    with pytest.raises(RealOrderRefused, match="already used or has ended"):
        orders.place(confirmation, "Kite main")
    assert market.submitted == []


@pytest.mark.parametrize(
    "edit",
    [
        {"order": limit_buy(qty="100")},
        {"order": limit_buy(symbol="NSE:TCS")},
        {"account_label": "Other"},
        {"broker_account_id": "ZX9999"},
    ],
    ids=["quantity", "symbol", "label", "broker account"],
)
def test_an_edited_confirmation_is_refused_and_spends_the_original(
    links: BrokerAccounts, orders: RealMoneyOrders, market: SimMarket, make_user, edit: dict[str, object]
) -> None:
    ada = make_user("ada")
    link = link_and_log_in(links, ada)
    confirmation = orders.preview(ada, link, limit_buy())
    forged = dataclasses.replace(confirmation, **edit)  # type: ignore[arg-type]
    with pytest.raises(RealOrderRefused, match="differs from the one you reviewed"):
        orders.place(forged, str(forged.account_label))
    with pytest.raises(RealOrderRefused, match="already used"):
        orders.place(confirmation, "Kite main")
    assert market.submitted == []


def test_a_made_up_or_another_traders_confirmation_is_refused(
    links: BrokerAccounts, orders: RealMoneyOrders, market: SimMarket, make_user
) -> None:
    ada, mallory = make_user("ada"), make_user("mallory")
    link = link_and_log_in(links, ada)
    confirmation = orders.preview(ada, link, limit_buy())
    with pytest.raises(RealOrderRefused, match="already used or has ended"):
        orders.place(dataclasses.replace(confirmation, token="guessed-token"), "Kite main")
    with pytest.raises(RealOrderRefused, match="differs"):
        orders.place(dataclasses.replace(confirmation, user_id=mallory), "Kite main")
    assert market.submitted == []


def test_the_risk_chain_judges_the_real_accounts_funds_not_the_virtual_balance(
    db, links: BrokerAccounts, orders: RealMoneyOrders, market: SimMarket, make_user
) -> None:
    market.cash = D("10000")  # the real account; the virtual one holds 100,000
    ada = make_user("ada")
    link = link_and_log_in(links, ada)
    with pytest.raises(RealOrderRefused) as refused:
        orders.preview(ada, link, limit_buy(qty="10", price="1500"))
    assert str(refused.value) == (
        "Insufficient funds in this account: this order needs ₹15,000.00, you have ₹10,000.00 available."
    )
    orders.preview(ada, link, limit_buy(qty="6", price="1500"))
    assert market.submitted == []


def test_the_traders_own_limits_refuse_an_order_over_them(
    db, links: BrokerAccounts, orders: RealMoneyOrders, market: SimMarket, make_user
) -> None:
    ada = make_user("ada", max_order_value=D("5000"))
    link = link_and_log_in(links, ada)
    with pytest.raises(RealOrderRefused, match=r"^Order value ₹7,500.00 exceeds your limit of ₹5,000.00.$"):
        orders.preview(ada, link, limit_buy(qty="5", price="1500"))
    confirmation = orders.preview(ada, link, limit_buy(qty="3", price="1500"))
    with db.session_factory() as s:  # the limit is lowered while the confirmation is open
        s.execute(update(RiskSettings).where(RiskSettings.user_id == ada).values(max_order_value=D("1000")))
        s.commit()
    with pytest.raises(RealOrderRefused, match=r"exceeds your limit of ₹1,000\.00"):
        orders.place(confirmation, "Kite main")
    assert market.submitted == []


def test_a_sell_is_judged_by_the_real_accounts_position(
    links: BrokerAccounts, orders: RealMoneyOrders, market: SimMarket, make_user
) -> None:
    ada = make_user("ada")
    link = link_and_log_in(links, ada)
    sell = RealOrderTicket.parse("NSE:INFY", "sell", "5", "limit", limit_price="1510")
    with pytest.raises(RealOrderRefused, match="not shortable"):  # a delivery (CNC) account holds no INFY
        orders.preview(ada, link, sell)
    orders.place(orders.preview(ada, link, limit_buy(qty="10", price="1500")), "Kite main")
    market.bar(API_KEY, "NSE:INFY", "1500")
    assert orders.preview(ada, link, sell).order_text() == "SELL 5 NSE:INFY · LIMIT ₹1,510.00 · DAY · product CNC"


def test_prices_off_the_tick_grid_and_quantities_off_the_lot_are_refused_first(
    links: BrokerAccounts, orders: RealMoneyOrders, market: SimMarket, make_user
) -> None:
    ada = make_user("ada", max_order_value=D("1"))  # the chain would refuse too: the instrument speaks first
    link = link_and_log_in(links, ada)
    with pytest.raises(RealOrderRefused, match=r"1500.03 for NSE:INFY is not a multiple of its tick size 0.05; use"):
        orders.preview(ada, link, limit_buy(price="1500.03"))
    market.lot_size = "25"
    with pytest.raises(RealOrderRefused, match="quantity 10 for NSE:INFY is not a multiple of its lot size 25"):
        orders.preview(ada, link, limit_buy(qty="10"))
    with pytest.raises(RealOrderRefused, match="whole number of shares"):
        orders.preview(ada, link, limit_buy(qty="2.5"))


def test_a_session_ended_between_preview_and_place_sends_nothing_and_asks_for_a_log_in(
    links: BrokerAccounts, orders: RealMoneyOrders, market: SimMarket, make_user
) -> None:
    ada = make_user("ada")
    link = link_and_log_in(links, ada)
    confirmation = orders.preview(ada, link, limit_buy())
    market.end_sessions()
    with pytest.raises(LoginNeeded, match="log in again"):
        orders.place(confirmation, "Kite main")
    assert market.submitted == [] and links.get(ada, link).session_expired


def test_fills_are_booked_once_however_often_the_broker_repeats_them_and_never_touch_the_virtual_account(
    db, links: BrokerAccounts, orders: RealMoneyOrders, market: SimMarket, make_user
) -> None:
    ada = make_user("ada")
    link = link_and_log_in(links, ada)
    with db.session_factory() as s:
        virtual_before = s.scalar(select(User.virtual_balance).where(User.id == ada))
    placed = orders.place(orders.preview(ada, link, limit_buy(qty="10", price="1500")), "Kite main")
    sim = market.sim(API_KEY)
    sim.duplicate_events = True  # every event delivered twice, as brokers may
    seen: list[OrderEvent] = []
    sim.add_event_handler(seen.append)
    with db.engine.connect() as listener:  # what the app's journal follower listens to
        listener.exec_driver_sql(f'LISTEN "{ledger_channel(ada)}"')
        listener.commit()
        market.bar(API_KEY, "NSE:INFY", "1499")
        raw = listener.connection.driver_connection
        assert raw is not None
        told = [n.payload for n in raw.notifies(timeout=2, stop_after=1)]
        listener.exec_driver_sql(f'UNLISTEN "{ledger_channel(ada)}"')
    assert told == [str(ada)]
    fill = next(e for e in seen if e.type is OrderEventType.FILL)
    assert orders.book_fill(ada, link, "zerodha", fill) is False  # and a third time, by hand
    with db.session_factory() as s:
        [row] = s.scalars(select(Fill)).all()
        assert (row.user_id, row.broker_connection_id, row.source, row.broker, row.currency, row.venue) == (
            ada, link, "broker_synced", "zerodha", "INR", "NSE",
        )  # fmt: skip
        assert (row.symbol, row.side, row.quantity, row.price) == ("NSE:INFY", "buy", D("10"), D("1499"))
        assert row.broker_order_id == placed.broker_order_id and row.order_id is None
        assert row.execution_id == execution_key("zerodha", fill.execution_id or "")
        assert s.scalar(select(User.virtual_balance).where(User.id == ada)) == virtual_before
        assert s.scalars(select(Position)).all() == []


def test_an_execution_id_is_namespaced_by_the_broker_once_and_hashed_when_too_long() -> None:
    assert execution_key("zerodha", "T123") == "zerodha:T123"
    assert execution_key("zerodha", "zerodha:T123") == "zerodha:T123"
    long = execution_key("angel", "x" * 400)
    assert long.startswith("angel:sha256:") and len(long) <= 255 and long == execution_key("angel", "x" * 400)


def test_risk_reasons_are_shown_in_rupees() -> None:
    assert in_rupees("Insufficient virtual funds: this order needs $1,500.00, you have -$2.00 available.") == (
        "Insufficient funds in this account: this order needs ₹1,500.00, you have -₹2.00 available."
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"symbol": "NYSE:IBM"}, "exchange must be NSE or BSE"),
        ({"qty": "0"}, "quantity must be greater than zero"),
        ({"qty": "abc"}, "quantity must be a number"),
        ({"type": "limit"}, "limit order needs a limit price"),
        ({"type": "stop"}, "stop-loss market order needs a trigger price"),
        ({"time_in_force": "gtc"}, "DAY or IOC"),
    ],
)
def test_a_ticket_that_cannot_be_an_indian_order_is_refused_when_built(fields: dict[str, str], message: str) -> None:
    values = {"symbol": "NSE:INFY", "side": "buy", "qty": "1", **fields}
    with pytest.raises(RealOrderRefused, match=message):
        RealOrderTicket.parse(**values)


def test_a_new_log_in_replaces_the_session_in_use_and_the_old_ones_end_does_not_log_the_trader_out(
    links: BrokerAccounts, orders: RealMoneyOrders, market: SimMarket, make_user
) -> None:
    ada = make_user("ada")
    link = link_and_log_in(links, ada)
    orders.preview(ada, link, limit_buy())  # opens the first session and keeps it
    [first] = market.tokens
    links.log_in(ada, link, {"request_token": GOOD_TOKEN})  # the trader logs in again (another window)
    market.tokens.discard(first)  # the first session ends at the broker
    assert orders.preview(ada, link, limit_buy()).account_label == "Kite main"  # the new session is used
    assert links.get(ada, link).logged_in and market.brokers_opened == 2


def test_a_market_order_needs_a_price_to_be_checked_against_the_limits(
    links: BrokerAccounts, orders: RealMoneyOrders, market: SimMarket, make_user
) -> None:
    ada = make_user("ada")
    link = link_and_log_in(links, ada)
    market_buy = RealOrderTicket.parse("NSE:INFY", "buy", "2", "market")
    with pytest.raises(RealOrderRefused, match="no price for NSE:INFY to check a market order"):
        orders.preview(ada, link, market_buy)
    orders.place(orders.preview(ada, link, limit_buy(qty="10", price="1500")), "Kite main")
    market.bar(API_KEY, "NSE:INFY", "1500")
    confirmation = orders.preview(ada, link, market_buy)  # held now: valued at the position's price
    assert confirmation.reference_price == D("1500") and confirmation.estimated_value == D("3000")


def test_following_opens_the_logged_in_accounts_so_fills_are_booked_without_an_order_from_this_app(
    db, links: BrokerAccounts, market: SimMarket, clock: Clock, make_user
) -> None:
    ada = make_user("ada")
    link = link_and_log_in(links, ada)
    links.add(ada, "zerodha", "Kite spare", kite_fields(api_key="spare-key-0000000000"))  # never logged in
    first = RealMoneyOrders(db.session_factory, links, clock=clock)
    first.place(first.preview(ada, link, limit_buy(qty="2", price="1500")), "Kite main")
    first.close()  # the app closes before the order fills
    again = RealMoneyOrders(db.session_factory, links, clock=clock)
    try:
        assert again.follow(ada) == []
        market.bar(API_KEY, "NSE:INFY", "1500")
        with db.session_factory() as s:
            assert [(f.quantity, f.broker_connection_id) for f in s.scalars(select(Fill))] == [(D("2"), link)]
    finally:
        again.close()


def test_a_removed_link_stops_booking_at_once(
    db, links: BrokerAccounts, orders: RealMoneyOrders, market: SimMarket, make_user
) -> None:
    ada = make_user("ada")
    link = link_and_log_in(links, ada)
    orders.place(orders.preview(ada, link, limit_buy(qty="2", price="1500")), "Kite main")
    links.remove(ada, link)
    market.bar(API_KEY, "NSE:INFY", "1500")  # its fill no longer reaches this app
    with db.session_factory() as s:
        assert s.scalars(select(Fill)).all() == []
