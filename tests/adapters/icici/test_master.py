"""ICICI's security master (SecurityMaster.zip) read into an InstrumentBook."""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal

import pytest

from core.adapters.icici.master import MasterError, parse_security_master
from core.market.india import IndianExchange, InstrumentError

HEADER = '"Token","ShortName","Series","CompanyName","TickSize","LotSize","ISINCode","ExchangeCode"'


def master(**files: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, lines in files.items():
            archive.writestr(name, "\r\n".join(lines))
    return buffer.getvalue()


def test_nse_and_bse_cash_instruments_are_read_with_ticks_in_rupees_and_icici_stock_codes() -> None:
    book = parse_security_master(
        master(
            **{
                "NSEScripMaster.txt": [
                    HEADER,
                    '"1594","INFTEC","EQ","INFOSYS LIMITED","5","1","INE009A01021","INFY"',
                    '"2885","RELIND","EQ","RELIANCE INDUSTRIES","10","1","INE002A01018","RELIANCE"',
                ],
                "BSEScripMaster.txt": [HEADER, '"500209","INFTEC","A","INFOSYS LTD","5","1","INE009A01021","INFY"'],
                "FONSEScripMaster.txt": ['"Token","InstrumentName"', '"35001","FUTSTK"'],
            }
        )
    )

    infy = book.get("NSE:INFY")
    assert (infy.token, infy.tick_size, infy.lot_size, infy.name) == ("INFTEC", Decimal("0.05"), 1, "INFOSYS LIMITED")
    assert book.get("NSE:RELIANCE").tick_size == Decimal("0.10")
    assert book.get("BSE:500209").token == "INFTEC", "BSE instruments go by BSE's scrip code"
    assert str(book.by_token(IndianExchange.NSE, "INFTEC").symbol) == "NSE:INFY"
    assert len(book) == 3


def test_nse_series_that_are_not_equities_are_left_out_and_broken_rows_skipped() -> None:
    book = parse_security_master(
        master(
            **{
                "NSEScripMaster.txt": [
                    HEADER,
                    '"1594","INFTEC","EQ","INFOSYS LIMITED","5","1","INE009A01021","INFY"',
                    '"9999","GOIBND","GS","GOVT BOND 2033","1","1","IN0020230001","733GS2033"',
                    '"8888","BROKEN","EQ","NO TICK","","1","INE000000000","BROKEN"',
                ]
            },
        )
    )
    assert len(book) == 1
    with pytest.raises(InstrumentError):
        book.get("NSE:733GS2033")


def test_a_download_that_is_not_a_zip_is_refused_in_plain_words() -> None:
    with pytest.raises(MasterError, match="could not be read"):
        parse_security_master(b"<html>Service Unavailable</html>")


def test_a_master_missing_a_needed_column_names_it() -> None:
    with pytest.raises(MasterError, match="ticksize"):
        parse_security_master(master(**{"NSEScripMaster.txt": ['"Token","ShortName","Series"', '"1","A","EQ"']}))
