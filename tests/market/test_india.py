"""Indian instruments: the exchange's symbol form, tick grid, lot sizes and trading calendar."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.market.india import (
    IndianExchange,
    IndianInstrument,
    IndianSymbol,
    InstrumentBook,
    InstrumentError,
    is_trading_day,
    session_times,
)

D = Decimal
INFY = IndianInstrument(IndianSymbol.parse("NSE:INFY"), "408065", D("0.05"), name="Infosys")
NIFTY_FUT = IndianInstrument(IndianSymbol(IndianExchange.NSE, "NIFTY26DECFUT"), "13238786", D("0.10"), lot_size=75)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("NSE:INFY", "NSE:INFY"), ("infy", "NSE:INFY"), (" bse:500325 ", "BSE:500325")],
)
def test_symbols_read_as_exchange_and_trading_symbol(text: str, expected: str) -> None:
    assert str(IndianSymbol.parse(text)) == expected


@pytest.mark.parametrize("text", ["NYSE:IBM", "NSE:", "", "NSE:TWO WORDS"])
def test_a_symbol_the_exchanges_cannot_have_is_refused_with_the_form_to_use(text: str) -> None:
    with pytest.raises(InstrumentError, match="NSE"):
        IndianSymbol.parse(text)


def test_prices_must_sit_on_the_tick_grid_and_the_message_offers_the_nearest() -> None:
    assert INFY.check_price(D("1500.05")) == D("1500.05")
    with pytest.raises(InstrumentError, match=r"tick size 0\.05; use 1500\.05"):
        INFY.check_price(D("1500.03"))
    with pytest.raises(InstrumentError, match="positive"):
        INFY.check_price(D("0"))
    assert INFY.round_price(D("1500.02")) == D("1500")


def test_quantities_are_whole_lots() -> None:
    assert NIFTY_FUT.check_quantity(D(150)) == 150
    with pytest.raises(InstrumentError, match="lot size 75"):
        NIFTY_FUT.check_quantity(D(100))
    with pytest.raises(InstrumentError, match="whole number"):
        INFY.check_quantity(D("1.5"))


def test_the_book_finds_instruments_by_symbol_and_by_the_brokers_token() -> None:
    book = InstrumentBook([INFY, NIFTY_FUT])
    assert book.get("infy") is INFY
    assert book.by_token(IndianExchange.NSE, "13238786") is NIFTY_FUT
    with pytest.raises(InstrumentError, match="not in the broker's instrument list"):
        book.get("NSE:TCS")


def test_the_calendar_knows_indian_hours_weekends_and_holidays() -> None:
    tuesday_1030_ist = datetime(2026, 12, 8, 5, 0, tzinfo=UTC)
    times = session_times(tuesday_1030_ist)
    assert times.is_open
    assert times.next_close == datetime(2026, 12, 8, 10, 0, tzinfo=UTC)  # 15:30 IST
    christmas = datetime(2026, 12, 25, 5, 0, tzinfo=UTC)
    assert not is_trading_day(christmas)
    assert not session_times(christmas).is_open
    assert session_times(christmas).next_open == datetime(2026, 12, 28, 3, 45, tzinfo=UTC)  # Monday 09:15 IST
    assert not is_trading_day(datetime(2026, 12, 12, 5, 0, tzinfo=UTC))  # a Saturday
