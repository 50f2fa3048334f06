"""Indian cash-market instruments (NSE and BSE): symbols, tick sizes, lot sizes and the trading calendar.

Zerodha, Angel One and ICICI Direct each publish an instrument master (Kite's ``instruments`` CSV, Angel's scrip
master JSON, Breeze's security master); each adapter reads its own into ``IndianInstrument`` values so that the rest
of StratForge sees one shape. A symbol is written ``EXCHANGE:TRADINGSYMBOL`` (``NSE:INFY``, ``BSE:500325``), the
form Kite uses and the one least likely to be confused with a US ticker; a bare symbol means NSE.

Prices must sit on the instrument's tick grid (NSE equities: 0.05 rupees, some 0.01) and quantities must be
whole multiples of its lot size (1 for cash equities, the contract's lot for derivatives): the exchanges reject
anything else, so the adapters check before sending and name the rule in the trader's terms.

The calendar: NSE and BSE publish one list of trading holidays; exchange_calendars' ``XBOM`` (BSE) carries it, with
regular hours 09:15-15:30 Asia/Kolkata.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    import exchange_calendars

IST = ZoneInfo("Asia/Kolkata")
CALENDAR_NAME = "XBOM"


class IndianExchange(StrEnum):
    NSE = "NSE"
    BSE = "BSE"


class InstrumentError(ValueError):
    """A symbol, price or quantity the exchange would refuse; str() names the rule for the trader."""


@dataclass(frozen=True)
class IndianSymbol:
    exchange: IndianExchange
    tradingsymbol: str

    @classmethod
    def parse(cls, text: str) -> IndianSymbol:
        """``NSE:INFY`` / ``BSE:500325`` / ``INFY`` (NSE); upper-cased, refused when empty or malformed."""
        raw = text.strip().upper()
        exchange_text, sep, rest = raw.partition(":")
        if not sep:
            exchange_text, rest = IndianExchange.NSE.value, raw
        try:
            exchange = IndianExchange(exchange_text)
        except ValueError:
            raise InstrumentError(f"{text!r}: the exchange must be NSE or BSE (write it as NSE:SYMBOL).") from None
        if not rest or len(rest) > 40 or any(c.isspace() for c in rest):
            raise InstrumentError(f"{text!r} is not a symbol (write it as NSE:SYMBOL, e.g. NSE:INFY).")
        return cls(exchange, rest)

    def __str__(self) -> str:
        return f"{self.exchange.value}:{self.tradingsymbol}"


@dataclass(frozen=True)
class IndianInstrument:
    """One tradable instrument as the broker's master lists it.

    ``token`` is the broker's own numeric id (Kite's instrument_token, Angel's symboltoken, Breeze's stock code),
    which its order and market-data calls take instead of the symbol.
    """

    symbol: IndianSymbol
    token: str
    tick_size: Decimal
    lot_size: int = 1
    name: str = ""
    segment: str = "EQ"

    def __post_init__(self) -> None:
        if self.tick_size <= 0:
            raise InstrumentError(f"{self.symbol}: a tick size must be positive, not {self.tick_size}.")
        if self.lot_size < 1:
            raise InstrumentError(f"{self.symbol}: a lot size must be at least 1, not {self.lot_size}.")

    def check_price(self, price: Decimal, what: str = "price") -> Decimal:
        """The price, or InstrumentError when it is not positive or not on the tick grid."""
        if price <= 0:
            raise InstrumentError(f"The {what} for {self.symbol} must be positive.")
        if price % self.tick_size != 0:
            raise InstrumentError(
                f"The {what} {price} for {self.symbol} is not a multiple of its tick size {self.tick_size}; "
                f"use {self.round_price(price)}."
            )
        return price

    def round_price(self, price: Decimal) -> Decimal:
        """The nearest price on the tick grid (half up: what a trader rounding by hand expects)."""
        steps = (price / self.tick_size).quantize(Decimal(1), rounding="ROUND_HALF_UP")
        return (steps * self.tick_size).normalize()

    def check_quantity(self, qty: Decimal) -> int:
        """The quantity as an int, or InstrumentError when it is not a whole number of lots."""
        if qty <= 0 or qty != qty.to_integral_value():
            raise InstrumentError(f"The quantity for {self.symbol} must be a whole number of shares, not {qty}.")
        whole = int(qty)
        if whole % self.lot_size:
            raise InstrumentError(
                f"The quantity {whole} for {self.symbol} is not a multiple of its lot size {self.lot_size}."
            )
        return whole


class InstrumentBook:
    """A broker's instrument master, looked up by symbol or by the broker's token."""

    def __init__(self, instruments: Iterable[IndianInstrument]) -> None:
        self._by_symbol: dict[IndianSymbol, IndianInstrument] = {}
        self._by_token: dict[tuple[IndianExchange, str], IndianInstrument] = {}
        for instrument in instruments:
            self._by_symbol[instrument.symbol] = instrument
            self._by_token[(instrument.symbol.exchange, instrument.token)] = instrument

    def __len__(self) -> int:
        return len(self._by_symbol)

    def get(self, symbol: str | IndianSymbol) -> IndianInstrument:
        key = symbol if isinstance(symbol, IndianSymbol) else IndianSymbol.parse(symbol)
        try:
            return self._by_symbol[key]
        except KeyError:
            raise InstrumentError(f"{key} is not in the broker's instrument list.") from None

    def by_token(self, exchange: IndianExchange, token: str) -> IndianInstrument:
        try:
            return self._by_token[(exchange, token)]
        except KeyError:
            raise InstrumentError(
                f"{exchange.value} instrument {token} is not in the broker's instrument list."
            ) from None


@cache
def _calendar() -> exchange_calendars.ExchangeCalendar:
    import exchange_calendars  # ~0.5 s: only a session with an Indian broker pays it

    return exchange_calendars.get_calendar(CALENDAR_NAME)


@dataclass(frozen=True)
class IndianSessionTimes:
    is_open: bool
    next_open: datetime
    next_close: datetime


def session_times(now: datetime) -> IndianSessionTimes:
    """Whether NSE/BSE's regular session is open at ``now`` (aware), and the next open and close (aware UTC)."""
    if now.tzinfo is None:
        raise ValueError("session_times needs an aware time")
    import pandas as pd

    calendar = _calendar()
    stamp: Any = pd.Timestamp(now)
    is_open = bool(calendar.is_open_on_minute(stamp))
    next_open = calendar.next_open(stamp).to_pydatetime()
    next_close = calendar.next_close(stamp).to_pydatetime()
    return IndianSessionTimes(is_open, next_open, next_close)


def is_trading_day(day: datetime) -> bool:
    """Whether the exchanges trade on ``day``'s date in India (holidays and weekends are not)."""
    local = day.astimezone(IST) if day.tzinfo else day
    return bool(_calendar().is_session(local.date().isoformat()))
