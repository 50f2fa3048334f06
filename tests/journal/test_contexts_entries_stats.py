"""Decision contexts, journal entries and per-strategy statistics, each scoped to its owner."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, update
from sqlalchemy.exc import DBAPIError

from core.db.models import Fill, Strategy
from core.journal import (
    AlreadyAttached,
    ExitIntent,
    InvalidJournalInput,
    NotFound,
    attach_context,
    create_entry,
    delete_entry,
    get_context,
    get_entry,
    list_contexts,
    overall_stats,
    search_entries,
    strategy_stats,
    update_context,
    update_entry,
)
from tests.journal.helpers import T0, insert_fill

D = Decimal


def strategy(sessions, owner: uuid.UUID, name: str, *, public: bool = False) -> uuid.UUID:
    sid = uuid.uuid4()
    with sessions() as s:
        s.execute(insert(Strategy).values(id=sid, user_id=owner, name=name, python_code="class S: pass",
                                          is_public=public))  # fmt: skip
        s.commit()
    return sid


# ----- decision contexts ----------------------------------------------------------------------------------


def test_a_context_is_attached_once_and_its_then_fields_are_write_once(sessions, make_user):
    ann = make_user("ann")
    fill = insert_fill(sessions, ann, "buy", "10", "100", T0)
    sma = strategy(sessions, ann, "SMA")
    ctx = attach_context(
        sessions, ann, fill, "entry", hypothesis="  Gap fill to 104  ", exit_intent={"stop": "97", "target": 104},
        feelings_then={"confidence": 4, "emotions": ["calm"]}, strategy_id=sma,
    )  # fmt: skip
    assert (ctx.fill_id, ctx.context_type, ctx.hypothesis, ctx.strategy_id) == (fill, "entry", "Gap fill to 104", sma)
    assert ctx.exit_intent == ExitIntent(stop=D(97), target=D(104))
    assert ctx.feelings_then == {"confidence": 4, "emotions": ["calm"]} and ctx.created_at.tzinfo is not None
    with pytest.raises(AlreadyAttached):
        attach_context(sessions, ann, fill, "idea")

    edited = update_context(sessions, ann, ctx.id, feelings_now={"regret": True}, notes="Sold too early",
                            context_type="post_trade_reflection")  # fmt: skip
    assert (edited.feelings_now, edited.notes, edited.context_type) == (
        {"regret": True}, "Sold too early", "post_trade_reflection")  # fmt: skip
    assert update_context(sessions, ann, ctx.id, notes=None).notes is None
    with pytest.raises(InvalidJournalInput, match="cannot be rewritten"):
        update_context(sessions, ann, ctx.id, exit_intent={"stop": "90"})
    with pytest.raises(InvalidJournalInput, match="cannot be rewritten"):
        update_context(sessions, ann, ctx.id, hypothesis="Something else")
    assert update_context(sessions, ann, ctx.id, hypothesis="Gap fill to 104").hypothesis == "Gap fill to 104"

    bare = attach_context(sessions, ann, insert_fill(sessions, ann, "sell", "10", "104", T0), "exit")
    filled = update_context(sessions, ann, bare.id, hypothesis="Target hit", exit_intent={"time": T0.isoformat()})
    assert filled.hypothesis == "Target hit" and filled.exit_intent.time == T0
    assert set(list_contexts(sessions, ann)) == {fill, bare.fill_id}


def test_context_input_is_checked(sessions, make_user):
    ann, bob = make_user("ann"), make_user("bob")
    fill = insert_fill(sessions, ann, "buy", "1", "1", T0)
    with pytest.raises(InvalidJournalInput):
        attach_context(sessions, ann, fill, "hunch")
    with pytest.raises(InvalidJournalInput):
        attach_context(sessions, ann, fill, "entry", exit_intent={"stop": "-1"})
    with pytest.raises(InvalidJournalInput):
        attach_context(sessions, ann, fill, "entry", exit_intent={"stopp": "1"})
    with pytest.raises(InvalidJournalInput):
        attach_context(sessions, ann, fill, "entry", feelings_then={"when": object()})
    with pytest.raises(NotFound):  # bob's private strategy
        attach_context(sessions, ann, fill, "entry", strategy_id=strategy(sessions, bob, "Secret"))
    shared = strategy(sessions, bob, "Club momentum", public=True)
    assert attach_context(sessions, ann, fill, "entry", strategy_id=shared).strategy_id == shared


def test_the_fill_stays_immutable_while_its_context_changes(db, sessions, make_user):
    ann = make_user("ann")
    fill = insert_fill(sessions, ann, "buy", "1", "10", T0)
    ctx = attach_context(sessions, ann, fill, "entry")
    update_context(sessions, ann, ctx.id, notes="fine")
    with pytest.raises(DBAPIError, match="fills are immutable"), sessions() as s:
        s.execute(update(Fill).where(Fill.id == fill).values(price=D(11)))
        s.flush()


# ----- journal entries ------------------------------------------------------------------------------------


def test_entries_are_created_updated_searched_and_deleted(sessions, make_user):
    ann = make_user("ann")
    fill = insert_fill(sessions, ann, "buy", "1", "10", T0)
    monday = create_entry(sessions, ann, date(2026, 3, 2), "Chased the AAPL open, 100% FOMO.", mood="Anxious",
                          tags=["FOMO", " fomo ", "open"], fill_id=fill)  # fmt: skip
    assert monday.tags == ("fomo", "open") and monday.mood == "Anxious" and monday.fill_id == fill
    tuesday = create_entry(sessions, ann, date(2026, 3, 3), "Waited for my setup; patient day.", mood="calm",
                           tags=["patience"], entry_type="post_market")  # fmt: skip
    create_entry(sessions, ann, date(2026, 3, 10), "Weekly review: fewer trades.", entry_type="weekly")

    def ids(**kw):
        return [e.id for e in search_entries(sessions, ann, **kw)]

    assert ids(text="aapl fomo") == [monday.id]
    assert ids(text="100%") == [monday.id]  # % is a character, not a wildcard
    assert ids(text="_") == []
    assert ids(tags=["FOMO"]) == [monday.id] and ids(tags=["fomo", "patience"]) == []
    assert ids(mood="ANXIOUS") == [monday.id]
    assert ids(entry_type="post_market") == [tuesday.id]
    assert ids(date_from=date(2026, 3, 3), date_to=date(2026, 3, 3)) == [tuesday.id]
    assert len(ids(date_from=date(2026, 3, 2))) == 3 and ids(date_from=date(2026, 3, 2))[0] != monday.id
    assert ids(fill_id=fill) == [monday.id]

    changed = update_entry(sessions, ann, monday.id, content="Chased the open.", tags=[], mood=None, fill_id=None)
    assert (changed.content, changed.tags, changed.mood, changed.fill_id) == ("Chased the open.", (), None, None)
    assert changed.updated_at >= monday.updated_at
    delete_entry(sessions, ann, monday.id)
    with pytest.raises(NotFound):
        get_entry(sessions, ann, monday.id)
    for bad in ({"content": "  "}, {"entry_type": "x" * 31}, {"mood": "m" * 21}, {"tags": "fomo"}):
        with pytest.raises(InvalidJournalInput):
            create_entry(sessions, ann, date(2026, 3, 2), **({"content": "ok"} | bad))


# ----- statistics -----------------------------------------------------------------------------------------


def round_trip(sessions, user, buy: str, sell: str, start, *, symbol="AAPL", qty="10", fees="0"):
    entry = insert_fill(sessions, user, "buy", qty, buy, start, symbol=symbol, fees=fees)
    insert_fill(sessions, user, "sell", qty, sell, start + timedelta(minutes=10), symbol=symbol, fees=fees)
    return entry


def test_per_strategy_statistics_of_closed_campaigns(sessions, make_user):
    ann = make_user("ann")
    sma, rsi = strategy(sessions, ann, "SMA"), strategy(sessions, ann, "RSI")
    hour = timedelta(hours=1)
    for k, (buy, sell) in enumerate([("100", "110"), ("100", "95"), ("100", "120")]):  # +100, -50, +200
        entry = round_trip(sessions, ann, buy, sell, T0 + k * hour, fees="0.5")  # 1.00 of fees each
        attach_context(sessions, ann, entry, "entry", strategy_id=sma)
    entry = round_trip(sessions, ann, "50", "40", T0 + 5 * hour, symbol="MSFT")  # -100
    attach_context(sessions, ann, entry, "entry", strategy_id=rsi)
    round_trip(sessions, ann, "10", "11", T0 + 6 * hour, symbol="TSLA")  # +10, no strategy
    insert_fill(sessions, ann, "buy", "1", "10", T0 + 7 * hour, symbol="OPEN")  # open: not counted

    by_name = {s.strategy_name: s for s in strategy_stats(sessions, ann)}
    assert list(by_name) == ["SMA", "RSI", None]
    s = by_name["SMA"].summary
    assert (s.campaigns, s.wins, s.losses, s.win_rate) == (3, 2, 1, D("0.666667"))
    assert (s.total_pnl, s.average_pnl, s.gross_profit, s.gross_loss) == (D(247), D("82.333333"), D(298), D(-51))
    assert s.profit_factor == D("5.843137")  # 298 / 51
    r = by_name["RSI"].summary
    assert (r.campaigns, r.win_rate, r.total_pnl, r.profit_factor) == (1, D(0), D(-100), D(0))
    none = by_name[None]
    assert (none.strategy_id, none.summary.total_pnl, none.summary.profit_factor) == (None, D(10), None)
    total = overall_stats(sessions, ann)
    assert (total.campaigns, total.total_pnl) == (5, D(157))
    assert overall_stats(sessions, ann, since=T0 + 5 * hour).campaigns == 2


def test_a_campaign_without_a_context_takes_its_orders_strategy(sessions, make_user, trade):
    ann = make_user("ann")
    sma = strategy(sessions, ann, "SMA")
    trade(ann, "buy", "10", "100", T0, strategy_id=sma)  # e.g. a paper session's order
    trade(ann, "sell", "10", "101", T0 + timedelta(minutes=1))
    (only,) = strategy_stats(sessions, ann)
    assert (only.strategy_id, only.strategy_name, only.summary.total_pnl) == (sma, "SMA", D(10))
    assert get_context(sessions, ann, fill_id=uuid.uuid4()) is None
