"""Kite's rows and StratForge's values: statuses, times, order parameters, tags, positions and the account."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.adapters.zerodha import convert
from core.adapters.zerodha.tags import TagBook, tag_for
from core.broker.errors import NotPlaced
from core.domain.orders import BrokerPosition, OrderClass, OrderRequest, OrderSide, OrderStatus, OrderType, TimeInForce
from core.market.india import IndianExchange, IndianInstrument, IndianSymbol, InstrumentError

INFY = IndianInstrument(IndianSymbol(IndianExchange.NSE, "INFY"), "408065", Decimal("0.05"))
LOT_OF_5 = IndianInstrument(IndianSymbol(IndianExchange.BSE, "ODDLOT"), "1", Decimal("0.01"), lot_size=5)
NOW = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)


def request(**changes: object) -> OrderRequest:
    values: dict[str, object] = {
        "client_order_id": "sf-" + "a" * 32, "symbol": "NSE:INFY", "side": OrderSide.BUY, "qty": Decimal(3),
        "type": OrderType.LIMIT, "limit_price": Decimal("1450.05"),
    } | changes  # fmt: skip
    return OrderRequest(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "filled", "expected"),
    [
        ("OPEN", 0, OrderStatus.NEW),
        ("OPEN", 2, OrderStatus.PARTIALLY_FILLED),
        ("TRIGGER PENDING", 0, OrderStatus.NEW),
        ("MODIFIED", 0, OrderStatus.NEW),
        ("COMPLETE", 3, OrderStatus.FILLED),
        ("CANCELLED", 1, OrderStatus.CANCELED),
        ("REJECTED", 0, OrderStatus.REJECTED),
        ("CANCEL PENDING", 0, OrderStatus.PENDING_CANCEL),
        ("LAPSED", 0, OrderStatus.EXPIRED),
        ("PUT ORDER REQ RECEIVED", 0, OrderStatus.PENDING_NEW),
        ("VALIDATION PENDING", 0, OrderStatus.PENDING_NEW),
        ("SOMETHING NEW", 0, OrderStatus.PENDING_NEW),
    ],
)
def test_kites_order_statuses_map_onto_ours(status: str, filled: int, expected: OrderStatus) -> None:
    assert convert.order_status({"status": status, "filled_quantity": filled}) is expected


def test_kites_times_are_india_time_and_come_out_aware_utc() -> None:
    assert convert.kite_time("2026-12-08 09:15:00") == datetime(2026, 12, 8, 3, 45, tzinfo=UTC)
    naive_ist = datetime(2026, 12, 8, 9, 15)  # noqa: DTZ001 - the SDK's own parse of Kite's times is naive
    assert convert.kite_time(naive_ist) == datetime(2026, 12, 8, 3, 45, tzinfo=UTC)
    assert convert.kite_time(None) is None and convert.kite_time("not a time") is None


def test_an_order_book_row_reads_as_a_broker_order() -> None:
    row = {
        "order_id": "251208000000007", "status": "OPEN", "exchange": "BSE", "tradingsymbol": "INFY",
        "transaction_type": "SELL", "quantity": 5, "order_type": "SL", "validity": "IOC", "price": 1450.05,
        "trigger_price": 1451.0, "filled_quantity": 2, "average_price": 1450.1,
        "order_timestamp": "2026-12-08 09:20:00", "exchange_update_timestamp": "2026-12-08 09:21:00", "tag": "sfx",
    }  # fmt: skip

    order = convert.to_broker_order(row, "sf-ours", NOW)

    assert (order.id, order.client_order_id, order.symbol, order.side) == ("251208000000007", "sf-ours", "BSE:INFY",
                                                                           OrderSide.SELL)  # fmt: skip
    assert (order.type, order.time_in_force, order.status) == (OrderType.STOP_LIMIT, TimeInForce.IOC,
                                                               OrderStatus.PARTIALLY_FILLED)  # fmt: skip
    assert (order.limit_price, order.stop_price) == (Decimal("1450.05"), Decimal("1451.0"))
    assert (order.filled_qty, order.filled_avg_price) == (Decimal(2), Decimal("1450.1"))
    assert order.submitted_at == datetime(2026, 12, 8, 3, 50, tzinfo=UTC)
    assert order.updated_at == datetime(2026, 12, 8, 3, 51, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ours", "kite", "price", "trigger"),
    [
        (OrderType.MARKET, "MARKET", None, None),
        (OrderType.LIMIT, "LIMIT", "1450.05", None),
        (OrderType.STOP, "SL-M", None, "1460.00"),
        (OrderType.STOP_LIMIT, "SL", "1450.05", "1460.00"),
    ],
)
def test_order_types_become_kites(ours: OrderType, kite: str, price: str | None, trigger: str | None) -> None:
    params = convert.place_params(
        request(type=ours, stop_price=Decimal("1460.00"), time_in_force=TimeInForce.IOC), INFY, "CNC", "sftag"
    )

    kwargs = params.kwargs()
    assert (kwargs["order_type"], kwargs.get("price"), kwargs.get("trigger_price")) == (kite, price, trigger)
    assert (kwargs["variety"], kwargs["exchange"], kwargs["tradingsymbol"]) == ("regular", "NSE", "INFY")
    assert (kwargs["validity"], kwargs["product"], kwargs["tag"], kwargs["quantity"]) == ("IOC", "CNC", "sftag", 3)
    assert ("market_protection" in kwargs) == (kite in ("MARKET", "SL-M"))


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"order_class": OrderClass.BRACKET}, "bracket"),
        ({"extended_hours": True}, "extended hours"),
        ({"time_in_force": TimeInForce.GTC}, "GTC"),
        ({"time_in_force": TimeInForce.FOK}, "FOK"),
        ({"qty": Decimal("1.5")}, "whole shares"),
    ],
)
def test_what_the_indian_exchanges_do_not_take_is_not_placed(changes: dict[str, object], words: str) -> None:
    with pytest.raises(NotPlaced, match=words):
        convert.place_params(request(**changes), INFY, "CNC", "sftag")


def test_prices_off_the_tick_grid_and_sizes_off_the_lot_are_refused_in_the_traders_terms() -> None:
    with pytest.raises(InstrumentError, match=r"tick size 0.05; use 1450.05"):
        convert.place_params(request(limit_price=Decimal("1450.04")), INFY, "CNC", "t")
    with pytest.raises(InstrumentError, match="multiple of its lot size 5"):
        convert.place_params(request(symbol="BSE:ODDLOT", qty=Decimal(7), limit_price=Decimal("10.01")), LOT_OF_5,
                             "CNC", "t")  # fmt: skip


def test_a_client_order_id_travels_as_a_stable_20_character_alphanumeric_tag() -> None:
    ours = "sf-0123456789abcdef0123456789abcdef"

    tag = tag_for(ours)

    assert len(tag) <= 20 and tag.isalnum() and tag == tag_for(ours) and tag != tag_for(ours + "0")
    book = TagBook()
    assert book.client_order_id(tag) == tag, "a tag we were never told about stays the tag"
    book.remember(ours)
    assert book.client_order_id(tag) == ours
    assert book.client_order_id(None) == ""


def test_holdings_and_the_days_net_positions_merge_into_one_position_per_symbol() -> None:
    holdings = [
        {"exchange": "NSE", "tradingsymbol": "SBIN", "quantity": 10, "t1_quantity": 2, "average_price": 700,
         "last_price": 800},
        {"exchange": "NSE", "tradingsymbol": "INFY", "quantity": 5, "t1_quantity": 0, "average_price": 1400,
         "last_price": 1500},
    ]  # fmt: skip
    net = [
        {"exchange": "NSE", "tradingsymbol": "SBIN", "quantity": -4, "average_price": 810, "last_price": 805},
        {"exchange": "NSE", "tradingsymbol": "INFY", "quantity": 5, "average_price": 1500, "last_price": 1500},
        {"exchange": "NSE", "tradingsymbol": "IDEA", "quantity": -100, "average_price": 7.5, "last_price": 7.4},
        {"exchange": "BSE", "tradingsymbol": "INFY", "quantity": 0, "average_price": 0, "last_price": 1500},
    ]  # fmt: skip

    positions = {p.symbol: p for p in convert.merge_positions(net, holdings)}

    assert set(positions) == {"NSE:SBIN", "NSE:INFY", "NSE:IDEA"}
    assert (positions["NSE:SBIN"].qty, positions["NSE:SBIN"].avg_entry_price) == (Decimal(8), Decimal(700))
    assert (positions["NSE:INFY"].qty, positions["NSE:INFY"].avg_entry_price) == (Decimal(10), Decimal(1450))
    assert (positions["NSE:IDEA"].qty, positions["NSE:IDEA"].avg_entry_price) == (Decimal(-100), Decimal("7.5"))
    assert positions["NSE:SBIN"].market_value == Decimal(8) * Decimal(805)


def test_the_account_is_the_equity_segments_funds_plus_the_positions_value() -> None:
    margins = {"enabled": True, "net": 90000.5, "available": {"cash": 100000.0}}
    positions = [
        BrokerPosition("NSE:SBIN", Decimal(12), Decimal(700), Decimal(9600)),
        BrokerPosition("NSE:INFY", Decimal(1), Decimal(1500), None),
    ]

    account = convert.to_account("ZS1234", margins, positions)

    assert (account.id, account.status) == ("ZS1234", "ACTIVE")
    assert (account.cash, account.buying_power, account.equity) == (
        Decimal("100000.0"), Decimal("90000.5"), Decimal("90000.5") + 9600,
    )  # fmt: skip
