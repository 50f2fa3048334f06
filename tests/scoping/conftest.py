"""Two traders on one database: Ann owns the rows, Bob calls every function with Ann's ids.

Each test names the function it calls; it asserts Bob is refused the way a missing id is refused (the same
error and words, or the same empty answer), so an id of someone else's row cannot even be told from a made-up
one, and that no row of any table changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import update

from core.accounts import AccountService
from core.db.database import Database
from core.db.models import RiskSettings
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from tests.ledger.manual_broker import ManualBroker
from tests.scoping.unchanged import nothing_changes

PASSWORD = "Tr4ding-Pass-2026"


def _user(db: Database, accounts: AccountService, name: str) -> uuid.UUID:
    user = accounts.sign_up(f"{name}@example.com", name, PASSWORD)
    with db.session_factory() as s:  # no duplicate-order window: tests place the same order twice
        s.execute(update(RiskSettings).where(RiskSettings.user_id == user.id).values(duplicate_window_seconds=0))
        s.commit()
    return user.id


@pytest.fixture
def ann(db: Database, accounts: AccountService) -> uuid.UUID:
    """The owner of every row the tests aim at."""
    return _user(db, accounts, "ann")


@pytest.fixture
def bob(db: Database, accounts: AccountService) -> uuid.UUID:
    """The other trader, who calls with Ann's ids."""
    return _user(db, accounts, "bob")


@pytest.fixture
def sessions(db: Database):
    return db.session_factory


@pytest.fixture
def broker() -> ManualBroker:
    return ManualBroker()


@pytest.fixture
def ledger(db: Database, broker: ManualBroker) -> Ledger:
    return Ledger(db.session_factory, broker, LastPrices({"AAPL": Decimal("100"), "MSFT": Decimal("400")}))


@pytest.fixture
def refused(db: Database) -> Callable[..., str]:
    """``refused(Error, theirs, missing)``: ``theirs()`` (Bob with Ann's id) raises ``Error``, changes no row,
    and says exactly what ``missing()`` (the same call with a made-up id) says; returns the message."""

    def check(error: type[BaseException], theirs: Callable[[], Any], missing: Callable[[], Any]) -> str:
        with nothing_changes(db), pytest.raises(error) as got:
            theirs()
        with pytest.raises(error) as expected:
            missing()
        assert type(got.value) is type(expected.value) and str(got.value) == str(expected.value)
        return str(got.value)

    return check


@pytest.fixture
def answered_as_missing(db: Database) -> Callable[..., Any]:
    """``answered_as_missing(theirs, missing)``: ``theirs()`` returns what ``missing()`` returns (nothing of
    Ann's) and changes no row; returns the answer."""

    def check(theirs: Callable[[], Any], missing: Callable[[], Any]) -> Any:
        with nothing_changes(db):
            got = theirs()
        assert got == missing()
        return got

    return check
