"""Angel One's scrip master (``OpenAPIScripMaster.json``) read into an ``InstrumentBook``, cached per day.

The SDK has no call for it: Angel documents a public JSON file (tens of megabytes, every segment), a list of
``{"token", "symbol", "name", "expiry", "strike", "lotsize", "instrumenttype", "exch_seg", "tick_size"}`` with every
value a string. Two quirks matter:

- ``tick_size`` is in paise ("5.000000" is 0.05 rupees);
- NSE equities are listed by series, ``INFY-EQ``: StratForge writes the EQ series as ``NSE:INFY`` (as Kite does),
  other series keep their suffix (``NSE:XYZ-BE``); BSE equities have no suffix (``BSE:INFY``).

Only the NSE and BSE cash segments are kept (derivatives and commodities are not traded by StratForge).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from core.broker.errors import BrokerUnavailable
from core.market.india import IST, IndianExchange, IndianInstrument, IndianSymbol, InstrumentBook, InstrumentError

MASTER_PATH = "/OpenAPI_File/files/OpenAPIScripMaster.json"
PRODUCTION_MASTER_URL = "https://margincalculator.angelbroking.com" + MASTER_PATH
DOWNLOAD_TIMEOUT_S = 60.0  # the file is large; this bounds each socket wait, as requests does
NSE_EQUITY_SUFFIX = "-EQ"


@dataclass(frozen=True)
class AngelInstrument:
    """An ``IndianInstrument`` and Angel's own ``tradingsymbol`` for it (``INFY-EQ``), which orders must carry."""

    instrument: IndianInstrument
    angel_symbol: str


class AngelInstruments:
    """The book, plus Angel's trading symbol of each instrument."""

    def __init__(self, rows: Iterable[AngelInstrument]) -> None:
        rows = list(rows)
        self.book = InstrumentBook(r.instrument for r in rows)
        self._angel: dict[IndianSymbol, str] = {r.instrument.symbol: r.angel_symbol for r in rows}
        self._ours: dict[tuple[IndianExchange, str], IndianSymbol] = {
            (r.instrument.symbol.exchange, r.angel_symbol): r.instrument.symbol for r in rows
        }

    def __len__(self) -> int:
        return len(self.book)

    def get(self, symbol: str | IndianSymbol) -> AngelInstrument:
        instrument = self.book.get(symbol)
        return AngelInstrument(instrument, self._angel[instrument.symbol])

    def symbol_for(self, exchange: str, angel_symbol: str) -> str:
        """StratForge's symbol for an order-book row's ``exchange`` + ``tradingsymbol``."""
        try:
            ex = IndianExchange(exchange)
        except ValueError:
            return f"{exchange}:{angel_symbol}"
        known = self._ours.get((ex, angel_symbol))
        if known is not None:
            return str(known)
        return str(IndianSymbol(ex, our_tradingsymbol(ex, angel_symbol)))


def our_tradingsymbol(exchange: IndianExchange, angel_symbol: str) -> str:
    if exchange is IndianExchange.NSE and angel_symbol.endswith(NSE_EQUITY_SUFFIX):
        return angel_symbol[: -len(NSE_EQUITY_SUFFIX)]
    return angel_symbol


def parse_master(rows: Iterable[dict[str, Any]]) -> AngelInstruments:
    """The NSE/BSE cash instruments of the scrip master's rows; malformed rows are skipped."""
    return AngelInstruments(_parse_rows(rows))


def _parse_rows(rows: Iterable[dict[str, Any]]) -> Iterable[AngelInstrument]:
    for row in rows:
        try:
            exchange = IndianExchange(str(row.get("exch_seg", "")))
        except ValueError:
            continue  # NFO, MCX, CDS, ...: not cash equities
        if str(row.get("instrumenttype") or "").strip():
            continue  # derivatives listed under a cash segment (none today), indices ("AMXIDX")
        angel_symbol = str(row.get("symbol") or "").strip().upper()
        token = str(row.get("token") or "").strip()
        if not angel_symbol or not token:
            continue
        try:
            tick = Decimal(str(row.get("tick_size"))) / 100
            lot = int(Decimal(str(row.get("lotsize") or "1")))
            instrument = IndianInstrument(
                symbol=IndianSymbol.parse(f"{exchange.value}:{our_tradingsymbol(exchange, angel_symbol)}"),
                token=token,
                tick_size=tick.normalize(),
                lot_size=max(lot, 1),
                name=str(row.get("name") or ""),
            )
        except (InvalidOperation, ValueError, InstrumentError):
            continue
        yield AngelInstrument(instrument, angel_symbol)


Fetch = Callable[[str, float], list[dict[str, Any]]]


def http_fetch(url: str, timeout_s: float) -> list[dict[str, Any]]:
    try:
        response = requests.get(url, timeout=timeout_s)
        response.raise_for_status()
        data = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise BrokerUnavailable(f"Angel One's instrument list could not be downloaded ({type(exc).__name__})") from exc
    if not isinstance(data, list):
        raise BrokerUnavailable("Angel One's instrument list had an unexpected shape")
    return data


class MasterCache:
    """One parsed master per URL per Indian trading date (Angel republishes it each morning); thread-safe."""

    def __init__(self, fetch: Fetch = http_fetch, timeout_s: float = DOWNLOAD_TIMEOUT_S) -> None:
        self._fetch = fetch
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._cached: dict[str, tuple[date, AngelInstruments]] = {}

    def get(self, url: str, now: datetime | None = None) -> AngelInstruments:
        today = (now or datetime.now(IST)).astimezone(IST).date()
        with self._lock:  # one download at a time: concurrent callers wait for it rather than repeat it
            hit = self._cached.get(url)
            if hit is not None and hit[0] == today:
                return hit[1]
            book = parse_master(self._fetch(url, self._timeout_s))
            self._cached[url] = (today, book)
            return book


DEFAULT_CACHE = MasterCache()


def master_url(api_root: str | None) -> str:
    """The production master, or the stand-in's copy at the same path under its root."""
    return api_root.rstrip("/") + MASTER_PATH if api_root else PRODUCTION_MASTER_URL
