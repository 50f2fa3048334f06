"""Kite's instrument master (``GET /instruments/{exchange}``, a CSV the SDK parses) as an ``InstrumentBook``.

Only the cash segments are kept (exchange NSE or BSE, instrument type EQ): StratForge places equity orders only,
and the full dump is ~100k rows, most of them derivatives. Kite regenerates the file once a day before the market
opens, so the book is cached in memory per trading day in India and fetched again on the next day's first use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from core.market.india import IST, IndianExchange, IndianInstrument, IndianSymbol, InstrumentBook, InstrumentError

CASH_EXCHANGES = (IndianExchange.NSE, IndianExchange.BSE)


def to_decimal(value: Any) -> Decimal:
    """The SDK turns prices into floats; ``str`` of a float gives back the short decimal Kite sent (0.05, not
    0.05000000000000000277)."""
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise InstrumentError(f"Kite sent a number StratForge cannot read: {value!r}") from exc


def parse_instruments(rows: Iterable[Mapping[str, Any]]) -> InstrumentBook:
    """Rows as ``KiteConnect.instruments()`` returns them; non-cash rows and malformed ones are skipped."""
    instruments: list[IndianInstrument] = []
    for row in rows:
        if row.get("instrument_type") != "EQ" or row.get("exchange") not in CASH_EXCHANGES:
            continue
        try:
            instruments.append(
                IndianInstrument(
                    symbol=IndianSymbol(IndianExchange(str(row["exchange"])), str(row["tradingsymbol"]).upper()),
                    token=str(row["instrument_token"]),
                    tick_size=to_decimal(row["tick_size"]),
                    lot_size=int(row["lot_size"]),
                    name=str(row.get("name") or ""),
                    segment=str(row.get("segment") or "EQ"),
                )
            )
        except (InstrumentError, KeyError, ValueError):
            continue  # one bad row must not hide the other 100k
    return InstrumentBook(instruments)


class InstrumentSource(Protocol):
    def book(self) -> InstrumentBook: ...


class DailyInstrumentBook:
    """The instrument master, fetched once per Indian trading day on first use. Thread-safe."""

    def __init__(self, fetch: Callable[[IndianExchange], Iterable[Mapping[str, Any]]], now: Callable[[], datetime]):
        self._fetch = fetch
        self._now = now
        self._lock = threading.Lock()
        self._day: date | None = None
        self._book: InstrumentBook | None = None

    def book(self) -> InstrumentBook:
        today = self._now().astimezone(IST).date()
        with self._lock:
            if self._book is None or self._day != today:
                rows: list[Mapping[str, Any]] = []
                for exchange in CASH_EXCHANGES:
                    rows.extend(self._fetch(exchange))
                self._book, self._day = parse_instruments(rows), today
            return self._book
