"""One trader-readable line for any error: driver errors are never shown raw, our own errors keep their words."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError as SAOperationalError

from core.config import Settings
from core.db.database import open_database
from core.db.engine import make_engine
from core.db.errors import DatabaseUnreachable
from core.db.trouble import (
    CONNECTION_LOST,
    DATABASE_FAILED,
    connection_failure_reason,
    is_connection_error,
    looks_like_a_driver_error,
    trader_message,
)
from core.ledger.errors import LedgerError


def refused_connection(tmp_path: Path) -> psycopg.OperationalError:
    """What psycopg raises when the embedded server's socket is gone: the text the issue saw in the portfolio."""
    with pytest.raises(psycopg.OperationalError) as caught:
        psycopg.connect(f"postgresql://postgres@/stratforge?host={tmp_path}", connect_timeout=2)
    return caught.value


def test_a_refused_connection_is_one_line_without_the_socket_path(tmp_path: Path) -> None:
    exc = refused_connection(tmp_path)
    assert ".s.PGSQL.5432" in str(exc)  # the raw text has it...
    assert trader_message(exc) == CONNECTION_LOST  # ...the trader's line does not
    assert is_connection_error(exc)


def test_sqlalchemy_wrapping_a_refused_connection_is_the_same_line(tmp_path: Path) -> None:
    engine = make_engine(f"postgresql://postgres@/stratforge?host={tmp_path}")
    try:
        with pytest.raises(SAOperationalError) as caught, engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    assert trader_message(caught.value) == CONNECTION_LOST


def test_our_error_raised_from_a_driver_error_keeps_its_own_words() -> None:
    """The ledger turns a PL/pgSQL refusal into a LedgerError with the rule's message: that is what to show."""
    try:
        try:
            raise psycopg.errors.RaiseException("insufficient buying power")
        except psycopg.Error as exc:
            raise LedgerError("Not enough buying power for this order.") from exc
    except LedgerError as exc:
        assert trader_message(exc) == "Not enough buying power for this order."


def test_our_error_that_embeds_a_driver_dump_is_not_shown_raw(tmp_path: Path) -> None:
    raw = refused_connection(tmp_path)
    wrapped = DatabaseUnreachable(f"Cannot reach the database: {raw}")
    assert trader_message(wrapped) == DATABASE_FAILED


def test_an_other_driver_error_is_the_refused_request_line() -> None:
    exc = psycopg.errors.UndefinedTable('relation "nope" does not exist\nLINE 1: SELECT * FROM nope')
    assert trader_message(exc) == DATABASE_FAILED


def test_raise_from_none_hides_the_driver_error_it_replaced() -> None:
    try:
        try:
            raise psycopg.errors.UniqueViolation("duplicate key value violates unique constraint")
        except psycopg.Error:
            raise ValueError("That name is taken.") from None
    except ValueError as exc:
        assert trader_message(exc) == "ValueError: That name is taken."


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (KeyError("AAPL"), "KeyError: 'AAPL'"),
        (RuntimeError(), "RuntimeError"),
        (ValueError("first line\nsecond line"), "ValueError: first line"),
        (LedgerError("x" * 400), "x" * 299 + "…"),
    ],
)
def test_anything_else_is_its_type_and_first_line(exc: BaseException, line: str) -> None:
    assert trader_message(exc) == line


@pytest.mark.parametrize(
    "text",
    [
        'connection to server on socket "/tmp/x/.s.PGSQL.5432" failed: Connection refused',
        "(psycopg.OperationalError) connection is bad",
        "(Background on this error at: https://sqlalche.me/e/20/e3q8)",
        "[SQL: SELECT 1]",
    ],
)
def test_driver_texts_are_recognised(text: str) -> None:
    assert looks_like_a_driver_error(text)


def test_a_trader_sentence_is_not_a_driver_text() -> None:
    assert not looks_like_a_driver_error("Order value $97,024.61 exceeds your limit of $25,000.")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused\n'
            "\tIs the server running on that host and accepting TCP/IP connections?",
            "Connection refused",
        ),
        (
            'connection is bad: connection to server on socket "/tmp/x/.s.PGSQL.5432" failed: No such file or '
            "directory\n\tIs the server running locally and accepting connections on that socket?",
            "No such file or directory",
        ),
        (
            'FATAL:  password authentication failed for user "alice"',
            'FATAL:  password authentication failed for user "alice"',
        ),
    ],
)
def test_a_failed_connection_is_told_in_libpqs_last_words(raw: str, reason: str) -> None:
    assert connection_failure_reason(psycopg.OperationalError(raw)) == reason


def test_an_unreachable_shared_database_is_one_clear_line() -> None:
    with pytest.raises(DatabaseUnreachable) as caught:
        open_database(Settings(data_dir=Path("/nonexistent"), database_url="postgresql://nobody@127.0.0.1:1/none"))
    assert (
        str(caught.value)
        == "Cannot reach the database postgresql+psycopg://nobody@127.0.0.1:1/none: Connection refused."
    )
