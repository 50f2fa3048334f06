"""Paper-session records: a session, signal or strategy of another trader is missing to the functions that
take a user (``records`` is the session worker's; the trader-facing manager reads through ``session_rows`` and
``signals_of``)."""

from __future__ import annotations

import uuid
from decimal import Decimal as D

from core.domain.orders import OrderSide, OrderType
from core.domain.tickets import OrderTicket
from core.paper import records
from core.paper.types import PaperSessionError
from tests.scoping.rows import T0, paper_rows, saved_strategy, version_of


def test_version_id_of_another_traders_strategy_is_none(sessions, ann, bob, answered_as_missing) -> None:
    theirs = paper_rows(sessions, ann).strategy
    assert records.version_id(sessions, theirs.id, 1, user_id=ann) is not None
    assert answered_as_missing(lambda: records.version_id(sessions, theirs.id, 1, user_id=bob),
                               lambda: records.version_id(sessions, uuid.uuid4(), 1, user_id=bob)) is None  # fmt: skip


def test_active_session_of_another_traders_strategy_is_none(sessions, ann, bob, answered_as_missing) -> None:
    theirs = paper_rows(sessions, ann).strategy
    assert answered_as_missing(lambda: records.active_session(sessions, bob, theirs.id),
                               lambda: records.active_session(sessions, bob, uuid.uuid4())) is None  # fmt: skip


def _insert_session(sessions, user_id: uuid.UUID, strategy_id: uuid.UUID, version: uuid.UUID | None = None):
    return records.insert_session(
        sessions, user_id=user_id, strategy_id=strategy_id, strategy_version_id=version, symbols=["AAPL"],
        timeframe="1Min", parameters={}, initial_capital=D(1_000), metadata={}, now=T0, already_running="running",
    )  # fmt: skip


def test_insert_session_refuses_another_traders_strategy_or_version(sessions, ann, bob, refused) -> None:
    theirs = paper_rows(sessions, ann)
    message = refused(PaperSessionError, lambda: _insert_session(sessions, bob, theirs.strategy.id),
                      lambda: _insert_session(sessions, bob, uuid.uuid4()))  # fmt: skip
    assert message == "No such strategy."
    own = saved_strategy(sessions, bob)
    refused(PaperSessionError, lambda: _insert_session(sessions, bob, own.id, theirs.version_id),
            lambda: _insert_session(sessions, bob, own.id, uuid.uuid4()))  # fmt: skip
    assert _insert_session(sessions, bob, own.id, version_of(sessions, own))  # the trader's own: started


def test_finish_does_not_end_another_traders_session(sessions, ann, bob, answered_as_missing) -> None:
    session_id = paper_rows(sessions, ann).session_id
    assert answered_as_missing(
        lambda: records.finish(sessions, session_id, "STOPPED", now=T0, user_id=bob),
        lambda: records.finish(sessions, uuid.uuid4(), "STOPPED", now=T0, user_id=bob),
    ) is False  # fmt: skip


def test_touch_does_not_change_another_traders_session(sessions, ann, bob, answered_as_missing) -> None:
    session_id = paper_rows(sessions, ann).session_id

    def touch(which: uuid.UUID) -> None:
        records.touch(sessions, which, {"hijacked": True}, D(1), user_id=bob)

    answered_as_missing(lambda: touch(session_id), lambda: touch(uuid.uuid4()))


def test_session_rows_of_another_traders_session_are_none(sessions, ann, bob, answered_as_missing) -> None:
    session_id = paper_rows(sessions, ann).session_id
    assert answered_as_missing(lambda: records.session_rows(sessions, bob, session_id),
                               lambda: records.session_rows(sessions, bob, uuid.uuid4())) == []  # fmt: skip


def _signal(sessions, session_id: uuid.UUID, user_id: uuid.UUID):
    return records.insert_signal(sessions, session_id=session_id, user_id=user_id, symbol="AAPL", action="SELL",
                                 quantity=D(1), bar_timestamp=T0, metadata={}, now=T0)  # fmt: skip


def test_insert_signal_refuses_another_traders_session(sessions, ann, bob, refused) -> None:
    session_id = paper_rows(sessions, ann).session_id
    refused(PaperSessionError, lambda: _signal(sessions, session_id, bob), lambda: _signal(sessions, uuid.uuid4(), bob))


def test_resolve_signal_refuses_another_traders_signal(sessions, ann, bob, refused) -> None:
    signal_id = paper_rows(sessions, ann).signal_id
    refused(PaperSessionError, lambda: records.resolve_signal(sessions, signal_id, "REJECTED", now=T0, user_id=bob),
            lambda: records.resolve_signal(sessions, uuid.uuid4(), "REJECTED", now=T0, user_id=bob))  # fmt: skip


def test_signals_of_another_traders_session_are_none(sessions, ann, bob, answered_as_missing) -> None:
    session_id = paper_rows(sessions, ann).session_id
    assert answered_as_missing(lambda: records.signals_of(sessions, session_id, bob, 10),
                               lambda: records.signals_of(sessions, uuid.uuid4(), bob, 10)) == []  # fmt: skip


def test_open_entry_orders_of_another_traders_session_are_none(sessions, ledger, ann, bob, answered_as_missing):
    session_id = paper_rows(sessions, ann).session_id
    ticket = OrderTicket("AAPL", OrderSide.BUY, D(1), OrderType.LIMIT, limit_price=D(90))
    ledger.place_order(ann, ticket, session_id=session_id)
    ledger.flush_acceptances()
    assert len(records.open_entry_orders(sessions, session_id, user_id=ann)) == 1
    theirs = answered_as_missing(lambda: records.open_entry_orders(sessions, session_id, user_id=bob),
                                 lambda: records.open_entry_orders(sessions, uuid.uuid4(), user_id=bob))  # fmt: skip
    assert theirs == []


def test_save_snapshot_refuses_another_traders_session(sessions, ann, bob, refused) -> None:
    session_id = paper_rows(sessions, ann).session_id

    def snapshot(which: uuid.UUID) -> None:
        records.save_snapshot(sessions, which, T0.date(), D(1), [], D(1_000), user_id=bob)

    refused(PaperSessionError, lambda: snapshot(session_id), lambda: snapshot(uuid.uuid4()))
