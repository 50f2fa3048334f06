"""Broker CSV exports into the journal: the report, idempotent re-imports, files that land nothing, and the
ledger's own figures untouched by imported fills."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.db.models import CampaignFill, Fill
from core.db.raw import raw_connection
from core.journal import (
    FillImportError,
    NotFound,
    import_fills_csv,
    import_fills_text,
    list_campaigns,
    list_fills,
)
from core.journal import fill_import as fill_import_module
from core.journal.csv_fills import parse_fills_csv
from core.ledger.day_pnl import day_pnl
from core.ledger.history import equity_curve, trade_history
from core.ledger.invariant import check_user
from core.ledger.placement import lock_account
from core.ledger.prices import LastPrices
from tests.journal.helpers import T0

D = Decimal
NOW = T0 + timedelta(hours=6)

SIMPLE = """symbol,side,quantity,price,fees,executed_at,trade_id
AAPL,buy,10,100.00,1.00,2026-03-02 14:31:00,T-1
AAPL,sell,10,110.00,1.00,2026-03-02T15:00:00Z,T-2
MSFT,buy,5,400,,2026-03-02T10:00:00-05:00,T-3
"""

ALPACA = """activity_type,cum_qty,id,leaves_qty,price,qty,side,symbol,transaction_time,order_id,type,order_status
FILL,3,20260302143000000::0a1b,0,187.25,3,buy,AAPL,2026-03-02T14:30:00.123456789Z,ord-1,fill,filled
PARTIAL_FILL,2,20260302143500000::0a1c,1,190.5,2,sell_short,TSLA,2026-03-02T14:35:00Z,ord-2,partial_fill,partially_filled
DIV,,20260302000000000::0a1d,,,,,,2026-03-02T00:00:00Z,,,
"""


def count(sessions, model=Fill) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


# ----- reading the file (pure) ----------------------------------------------------------------------------


def test_the_documented_columns_read_with_naive_times_as_utc():
    parsed = parse_fills_csv(SIMPLE, now=NOW)
    assert parsed.rows_read == 3 and parsed.rejected == () and parsed.duplicate_rows == ()
    first, second, third = parsed.fills
    assert (first.symbol, first.side, first.quantity, first.price, first.fees) == ("AAPL", "buy", D(10), D(100), D(1))
    assert first.executed_at == datetime(2026, 3, 2, 14, 31, tzinfo=UTC)
    assert second.executed_at == datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    assert third.executed_at == datetime(2026, 3, 2, 15, 0, tzinfo=UTC) and third.fees == 0
    assert [f.execution_id for f in parsed.fills] == ["csv:T-1", "csv:T-2", "csv:T-3"]
    assert first.raw == {"symbol": "AAPL", "side": "buy", "quantity": "10", "price": "100.00", "fees": "1.00",
                         "executed_at": "2026-03-02 14:31:00", "trade_id": "T-1"}  # fmt: skip


def test_alpacas_activities_export_reads_as_it_is():
    parsed = parse_fills_csv(ALPACA, broker="alpaca", now=NOW)
    buy, short = parsed.fills
    assert (buy.execution_id, buy.broker_order_id, buy.quantity) == ("alpaca:20260302143000000::0a1b", "ord-1", D(3))
    assert buy.executed_at == datetime(2026, 3, 2, 14, 30, 0, 123456, tzinfo=UTC)
    assert (short.side, short.symbol, short.price) == ("sell", "TSLA", D("190.5"))
    assert [(r.row, r.reason) for r in parsed.rejected] == [(3, "not a fill (activity_type 'DIV')")]


def test_every_bad_row_is_reported_with_its_number_and_reason():
    text = "\n".join([
        "Symbol,Side,Qty,Price,Commission,Time",
        "aapl,BUY,\"1,000\",$12.50,(1.25),03/02/2026 09:31:00",  # 1: fine (negative fee -> 1.25)
        ",buy,1,1,0,2026-03-02T14:00:00",  # 2
        "AAPL,hold,1,1,0,2026-03-02T14:00:00",  # 3
        "AAPL,buy,abc,1,0,2026-03-02T14:00:00",  # 4
        "AAPL,buy,0,1,0,2026-03-02T14:00:00",  # 5
        "AAPL,buy,1,-3,0,2026-03-02T14:00:00",  # 6
        "AAPL,buy,1,1.1234567,0,2026-03-02T14:00:00",  # 7
        "AAPL,buy,1,1,0,yesterday",  # 8
        "AAPL,buy,1,1,0,2030-01-01T00:00:00",  # 9
        "AAPL,buy,-1,1,0,2026-03-02T14:00:00",  # 10
        "",
        "NOT A SYMBOL,buy,1,1,0,2026-03-02T14:00:00",  # 12
    ])  # fmt: skip
    parsed = parse_fills_csv(text, now=NOW)
    (good,) = parsed.fills
    assert (good.symbol, good.quantity, good.price, good.fees) == ("AAPL", D(1000), D("12.5"), D("1.25"))
    assert good.executed_at == datetime(2026, 3, 2, 9, 31, tzinfo=UTC)
    assert good.execution_id.startswith("csv:h:")
    assert [(r.row, r.reason) for r in parsed.rejected] == [
        (2, "symbol is empty"),
        (3, "side 'hold' is neither buy nor sell"),
        (4, "quantity 'abc' is not a number"),
        (5, "quantity must be positive"),
        (6, "price must be positive"),
        (7, "price '1.1234567' has more than 6 decimals or is too large"),
        (8, "executed_at 'yesterday' is not a date and time"),
        (9, "executed_at '2030-01-01T00:00:00' is in the future"),
        (10, "a buy with a negative quantity"),
        (12, "symbol 'NOT A SYMBOL' is not a valid symbol"),
    ]
    assert parsed.rows_read == 11  # the blank line is not a row


def test_rows_without_a_trade_id_get_the_same_id_every_time_and_identical_fills_stay_two():
    text = (
        "symbol,side,quantity,price,executed_at\n"
        "AAPL,buy,100,10,2026-03-02T14:30:00\n"
        "AAPL,buy,100,10,2026-03-02T14:30:00\n"
        "AAPL,buy,100,10.00,2026-03-02 14:30:00+00:00\n"  # the same fill written differently
    )
    first, again = parse_fills_csv(text, now=NOW), parse_fills_csv(text, now=NOW)
    ids = [f.execution_id for f in first.fills]
    assert len(ids) == len(set(ids)) == 3
    assert ids == [f.execution_id for f in again.fills]
    assert parse_fills_csv(text, broker="ibkr", now=NOW).fills[0].execution_id.startswith("ibkr:h:")


def test_a_repeated_trade_id_is_a_duplicate_or_a_conflict():
    text = (
        "symbol,side,quantity,price,executed_at,trade_id\n"
        "AAPL,buy,1,10,2026-03-02T14:30:00,A\n"
        "AAPL,buy,1,10,2026-03-02T14:30:00,A\n"
        "AAPL,buy,2,10,2026-03-02T14:30:00,A\n"
    )
    parsed = parse_fills_csv(text, now=NOW)
    assert len(parsed.fills) == 1 and parsed.duplicate_rows == (2,)
    assert [(r.row, r.reason) for r in parsed.rejected] == [
        (3, "trade_id 'A' already used by row 1 with different values")
    ]


def test_a_bare_id_column_is_a_trade_id_only_in_an_alpaca_export():
    generic = parse_fills_csv("id,symbol,side,qty,price,time\n1,AAPL,buy,5,10,2026-03-02T14:30:00\n", now=NOW)
    assert generic.fills[0].execution_id.startswith("csv:h:")


def test_the_side_may_come_from_the_sign_of_the_quantity():
    parsed = parse_fills_csv("symbol,qty,price,time\nAAPL,5,10,2026-03-02T14:30:00\nAAPL,-5,11,2026-03-02T14:31:00\n",
                             now=NOW)  # fmt: skip
    assert [(f.side, f.quantity) for f in parsed.fills] == [("buy", D(5)), ("sell", D(5))]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("symbol,side,price,executed_at\nAAPL,buy,1,2026-03-02\n", "no quantity column"),
        ("foo,bar\n1,2\n", "no symbol, quantity, price, executed_at columns"),
    ],
)
def test_a_file_without_the_required_columns_is_refused_whole(text, message):
    with pytest.raises(FillImportError, match=message):
        parse_fills_csv(text, now=NOW)


# ----- importing (database) -------------------------------------------------------------------------------


def test_import_reports_and_stores_immutable_journal_fills_and_their_campaigns(sessions, make_user, tmp_path):
    ann = make_user("ann")
    path = tmp_path / "fills.csv"
    path.write_text("\ufeff" + SIMPLE, encoding="utf-8")  # as Excel saves it, with a byte-order mark
    report = import_fills_csv(sessions, ann, path, now=NOW)
    assert (report.rows_read, report.imported, report.duplicates, report.rejected) == (3, 3, 0, 0)
    assert report.imported_rows == (1, 2, 3) and report.import_batch_id is not None
    assert report.summary() == "3 fills imported, 0 duplicates skipped, 0 rejected"

    rows = list_fills(sessions, ann)
    assert {r.fill.source for r in rows} == {"csv_import"}
    assert {r.fill.import_batch_id for r in rows} == {report.import_batch_id}
    assert sorted(r.fill.id for r in rows) == sorted(report.fill_ids)
    with sessions() as s:
        stored = s.scalar(select(Fill).where(Fill.execution_id == "csv:T-1"))
        assert (stored.broker, stored.order_id, stored.raw_data["row"]) == ("csv", None, 1)
    aapl, msft = sorted(list_campaigns(sessions, ann), key=lambda c: c.symbol)
    assert (aapl.status, aapl.realized_pnl) == ("closed", D(98))
    assert msft.status == "open"
    assert count(sessions, CampaignFill) == 3


def test_re_importing_the_same_file_adds_nothing(sessions, make_user):
    ann = make_user("ann")
    first = import_fills_text(sessions, ann, SIMPLE, now=NOW)
    again = import_fills_text(sessions, ann, SIMPLE, now=NOW)
    assert (again.imported, again.duplicates, again.duplicate_rows, again.import_batch_id) == (0, 3, (1, 2, 3), None)
    assert count(sessions) == 3 and count(sessions, CampaignFill) == 3
    grown = import_fills_text(sessions, ann, SIMPLE + "MSFT,sell,5,410,,2026-03-02T16:00:00,T-4\n", now=NOW)
    assert (grown.imported_rows, grown.duplicate_rows) == ((4,), (1, 2, 3))
    assert grown.import_batch_id != first.import_batch_id
    assert [c.status for c in list_campaigns(sessions, ann)] == ["closed", "closed"]


def test_rows_at_the_same_instant_replay_in_file_order(sessions, make_user):
    ann = make_user("ann")
    text = (
        "symbol,side,quantity,price,executed_at\n"
        "AAPL,buy,10,100,2026-03-02T14:30:00\n"
        "AAPL,sell,10,101,2026-03-02T14:31:00\n"
        "AAPL,buy,10,102,2026-03-02T14:31:00\n"
    )
    import_fills_text(sessions, ann, text, now=NOW)
    closed, reopened = list_campaigns(sessions, ann)
    assert (closed.realized_pnl, closed.num_fills, reopened.status) == (D(10), 2, "open")


def test_a_strict_import_with_a_bad_row_lands_nothing(sessions, make_user):
    ann = make_user("ann")
    report = import_fills_text(sessions, ann, SIMPLE + "AAPL,buy,x,1,0,2026-03-02T14:00:00,T-9\n", strict=True,
                               now=NOW)  # fmt: skip
    assert report.refused and report.imported == 0 and report.rejected_rows[0].row == 4
    assert "nothing stored" in report.summary()
    assert count(sessions) == 0
    lenient = import_fills_text(sessions, ann, SIMPLE + "AAPL,buy,x,1,0,2026-03-02T14:00:00,T-9\n", now=NOW)
    assert (lenient.imported, lenient.rejected) == (3, 1)


def test_a_file_that_fails_to_store_lands_nothing(sessions, make_user, monkeypatch, tmp_path):
    ann = make_user("ann")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fill_import_module, "rebuild_in_session", broken)
    with pytest.raises(RuntimeError):
        import_fills_text(sessions, ann, SIMPLE, now=NOW)
    assert count(sessions) == 0
    (tmp_path / "bad.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(FillImportError, match=r"bad\.csv is not a text CSV file"):
        import_fills_csv(sessions, ann, tmp_path / "bad.csv")
    with pytest.raises(FillImportError, match="Cannot read"):
        import_fills_csv(sessions, ann, tmp_path / "missing.csv")
    assert count(sessions) == 0


def test_importing_for_an_unknown_user_is_refused(sessions):
    import uuid

    with pytest.raises(NotFound):
        import_fills_text(sessions, uuid.uuid4(), SIMPLE, now=NOW)


def test_the_same_file_imported_by_two_users_belongs_to_each_alone(sessions, make_user):
    ann, bob = make_user("ann"), make_user("bob")
    assert import_fills_text(sessions, ann, SIMPLE, now=NOW).imported == 3
    assert import_fills_text(sessions, bob, SIMPLE, now=NOW).imported == 3
    assert len(list_fills(sessions, ann)) == len(list_fills(sessions, bob)) == 3
    assert {r.fill.id for r in list_fills(sessions, ann)}.isdisjoint({r.fill.id for r in list_fills(sessions, bob)})


# ----- the ledger ignores imported fills ------------------------------------------------------------------


def test_imported_fills_never_change_the_virtual_accounts_figures(db, sessions, make_user, trade):
    ann = make_user("ann")
    trade(ann, "buy", "10", "100", T0)
    trade(ann, "sell", "4", "105", T0 + timedelta(minutes=5), fee="1")
    now = T0 + timedelta(hours=1)
    prices = LastPrices({"AAPL": D(110)})
    before = (trade_history(sessions, ann), equity_curve(sessions, ann), day_pnl(sessions, ann, prices, now=now))

    # A broker export of the same day: a big losing round trip and huge fees, and a position in AAPL.
    text = (
        "symbol,side,quantity,price,fees,executed_at,trade_id\n"
        "TSLA,buy,100,200,500,2026-03-02T15:10:00Z,E1\n"
        "TSLA,sell,100,150,500,2026-03-02T15:20:00Z,E2\n"
        "AAPL,buy,1000,100,0,2026-03-02T15:30:00Z,E3\n"
    )
    assert import_fills_text(sessions, ann, text, now=now).imported == 3

    assert trade_history(sessions, ann) == before[0]
    assert equity_curve(sessions, ann) == before[1]
    assert day_pnl(sessions, ann, prices, now=now) == before[2]
    with raw_connection(db.engine) as conn:
        snapshot = lock_account(conn, ann, "AAPL", now)
    assert snapshot.realized_today == D(19)  # the ledger's own: 4 x 5 - 1; not the import's -5,000 - 1,000
    assert snapshot.positions == (("AAPL", D(6), D(600)),)
    with sessions() as s:
        assert check_user(s, ann).holds
    assert len(list_fills(sessions, ann)) == 5  # the journal sees them all
