"""ICICI Direct's security master (``SecurityMaster.zip``) read into an ``InstrumentBook``.

The zip holds one quoted CSV per segment (``NSEScripMaster.txt``, ``BSEScripMaster.txt``, and F&O, currency and
commodity files StratForge does not trade). The cash files start with a header row; the columns read here:
``Token`` (the exchange's numeric token; BSE's scrip code), ``ShortName`` (ICICI's own stock code, e.g. ``INFTEC``
for Infosys, which every Breeze order call takes), ``Series``, ``CompanyName``, ``TickSize`` (in paise),
``LotSize`` and ``ExchangeCode`` (the exchange's trading symbol, e.g. ``INFY``). Header names are matched without
regard to case, because ICICI's own files spell them differently from one segment to the next.

Symbols: NSE instruments are ``NSE:<exchange symbol>`` (``NSE:INFY``); BSE instruments are ``BSE:<scrip code>``
(``BSE:500209``), the number BSE itself publishes and the form ``core.market.india`` documents.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

from core.market.india import IndianExchange, IndianInstrument, IndianSymbol, InstrumentBook, InstrumentError

CASH_FILES = {"NSESCRIPMASTER.TXT": IndianExchange.NSE, "BSESCRIPMASTER.TXT": IndianExchange.BSE}
NSE_CASH_SERIES = frozenset({"EQ", "BE", "BZ", "SM", "ST"})  # equities; other series are bonds, warrants, ETFs' ...


class MasterError(ValueError):
    """The security master could not be read; str() says so in a trader's terms."""


def parse_security_master(data: bytes) -> InstrumentBook:
    """The NSE and BSE cash instruments in ``SecurityMaster.zip``'s bytes."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise MasterError("ICICI Direct's instrument list could not be read (not a zip file).") from None
    instruments: list[IndianInstrument] = []
    with archive:
        for name in archive.namelist():
            exchange = CASH_FILES.get(name.rsplit("/", 1)[-1].upper())
            if exchange is None:
                continue
            text = archive.read(name).decode("utf-8", errors="replace")
            instruments.extend(_instruments(text, exchange))
    if not instruments:
        raise MasterError("ICICI Direct's instrument list has no NSE or BSE cash instruments.")
    return InstrumentBook(instruments)


def _instruments(text: str, exchange: IndianExchange) -> Iterator[IndianInstrument]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return
    index = {column.strip().strip('"').lower(): i for i, column in enumerate(header)}
    needed = ("token", "shortname", "series", "companyname", "ticksize", "lotsize", "exchangecode")
    missing = [column for column in needed if column not in index]
    if missing:
        raise MasterError(f"ICICI Direct's {exchange.value} instrument list lacks the columns {', '.join(missing)}.")
    for row in reader:
        if len(row) < len(header):
            continue
        value = {column: row[index[column]].strip().strip('"') for column in needed}
        if exchange is IndianExchange.NSE and value["series"].upper() not in NSE_CASH_SERIES:
            continue
        instrument = _instrument(value, exchange)
        if instrument is not None:
            yield instrument


def _instrument(value: dict[str, str], exchange: IndianExchange) -> IndianInstrument | None:
    """One row, or None for a row the exchanges would not trade (no code, no tick): skipped, not fatal."""
    symbol_text = value["exchangecode"] if exchange is IndianExchange.NSE else value["token"]
    try:
        tick = Decimal(value["ticksize"]) / 100
        lot = int(Decimal(value["lotsize"] or "1"))
        symbol = IndianSymbol.parse(f"{exchange.value}:{symbol_text}")
        if not value["shortname"]:
            return None
        return IndianInstrument(
            symbol=symbol,
            token=value["shortname"].upper(),
            tick_size=tick,
            lot_size=max(lot, 1),
            name=value["companyname"],
            segment=value["series"].upper() or "EQ",
        )
    except (InvalidOperation, ValueError, InstrumentError):
        return None
