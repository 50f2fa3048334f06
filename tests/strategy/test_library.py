"""Saved strategies: validated before saving, a version per change, private to their owner."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.db.models import Strategy as StrategyRow
from core.db.models import StrategyVersion
from core.strategy.library import (
    LibraryError,
    StrategyDraft,
    archive_strategy,
    list_strategies,
    load_strategy,
    save_strategy,
    versions,
)
from core.strategy.sandbox import StrategyRejected
from tests.backtest.test_sandboxed_backtest import CROSS, SIGNALS

PASSWORD = "Correct-Horse-2026"


@pytest.fixture
def users(accounts):
    return (
        accounts.sign_up("a@example.com", "alice", PASSWORD).id,
        accounts.sign_up("b@example.com", "bob", PASSWORD).id,
    )


def rows(db, model) -> int:
    with db.session_factory() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_a_new_strategy_is_version_one_and_lists_its_classes(db, users):
    alice, _ = users
    saved = save_strategy(db.session_factory, alice, StrategyDraft("Cross", CROSS, "buys when fast crosses slow"))
    assert (saved.version, saved.classes, saved.logic_explanation) == (1, ("Cross",), "buys when fast crosses slow")
    assert [v.version for v in versions(db.session_factory, alice, saved.id)] == [1]
    assert load_strategy(db.session_factory, alice, saved.id).python_code == CROSS


def test_each_change_is_a_new_version_and_an_unchanged_save_is_not(db, users):
    alice, _ = users
    first = save_strategy(db.session_factory, alice, StrategyDraft("Cross", CROSS))
    second = save_strategy(db.session_factory, alice, StrategyDraft("Cross", SIGNALS), strategy_id=first.id,
                           change_note="signals instead")  # fmt: skip
    same = save_strategy(db.session_factory, alice, StrategyDraft("Cross", SIGNALS, description="tidy"),
                         strategy_id=first.id)  # fmt: skip
    assert (second.version, same.version, same.classes) == (2, 2, ("Sig",))
    history = versions(db.session_factory, alice, first.id)
    assert [(v.version, v.change_note) for v in history] == [(2, "signals instead"), (1, None)]
    assert history[1].python_code == CROSS  # old versions are kept as they were


def test_code_that_breaks_the_rules_is_never_stored(db, users):
    alice, _ = users
    bad = CROSS.replace(
        "from core.strategy.indicators import sma", "import os\nfrom core.strategy.indicators import sma"
    )
    with pytest.raises(StrategyRejected) as caught:
        save_strategy(db.session_factory, alice, StrategyDraft("Cross", bad))
    assert [p.line for p in caught.value.report.problems] == [2]
    with pytest.raises(StrategyRejected):
        save_strategy(db.session_factory, alice, StrategyDraft("Broken", "def f(:\n"))
    with pytest.raises(LibraryError, match="defines no strategy class"):
        save_strategy(db.session_factory, alice, StrategyDraft("Plain", "x = 1\n"))
    assert rows(db, StrategyRow) == 0 and rows(db, StrategyVersion) == 0


def test_names_are_unique_per_user_and_strategies_are_private(db, users):
    alice, bob = users
    mine = save_strategy(db.session_factory, alice, StrategyDraft("Cross", CROSS))
    with pytest.raises(LibraryError, match="already have a strategy named 'Cross'"):
        save_strategy(db.session_factory, alice, StrategyDraft("Cross", SIGNALS))
    assert save_strategy(db.session_factory, bob, StrategyDraft("Cross", SIGNALS)).name == "Cross"  # bob's own
    for call in (
        lambda: load_strategy(db.session_factory, bob, mine.id),
        lambda: versions(db.session_factory, bob, mine.id),
        lambda: save_strategy(db.session_factory, bob, StrategyDraft("Cross", SIGNALS), strategy_id=mine.id),
        lambda: archive_strategy(db.session_factory, bob, mine.id),
    ):
        with pytest.raises(LibraryError, match="no such strategy"):
            call()
    assert load_strategy(db.session_factory, alice, mine.id).python_code == CROSS


def test_archived_strategies_leave_the_list_but_stay_loadable(db, users):
    alice, _ = users
    a = save_strategy(db.session_factory, alice, StrategyDraft("b-second", CROSS))
    save_strategy(db.session_factory, alice, StrategyDraft("A first", SIGNALS))
    assert [s.name for s in list_strategies(db.session_factory, alice)] == ["A first", "b-second"]
    archive_strategy(db.session_factory, alice, a.id)
    assert [s.name for s in list_strategies(db.session_factory, alice)] == ["A first"]
    assert len(list_strategies(db.session_factory, alice, include_archived=True)) == 2
    assert load_strategy(db.session_factory, alice, a.id).name == "b-second"


def test_an_unknown_family_is_refused(db, users):
    alice, _ = users
    with pytest.raises(LibraryError, match="unknown strategy family 'astrology'"):
        save_strategy(db.session_factory, alice, StrategyDraft("Cross", CROSS, implied_family="astrology"))


def family_of(db, strategy_id) -> str | None:
    with db.session_factory() as s:
        return s.get(StrategyRow, strategy_id).implied_strategy_family


MEAN_REVERSION = """\
from core.strategy.api import Param, Strategy
from core.strategy.indicators import bollinger


class Fade(Strategy):
    period = Param(20, min=5, max=100)

    def init(self, data):
        self.mid, self.upper, self.lower = (self.indicator(x) for x in bollinger(data.close, self.period))

    def next(self, data):
        if data.close[-1] < self.lower[-1] and self.position == 0:
            self.order_target(fraction=1.0)
        elif data.close[-1] > self.mid[-1] and self.position > 0:
            self.order_target(shares=0)
"""


def test_every_strategy_gets_an_implied_family(db, users):
    alice, _ = users
    cross = save_strategy(db.session_factory, alice, StrategyDraft("Cross", CROSS))
    assert family_of(db, cross.id) == "trend"  # from the code: moving averages crossing
    told = save_strategy(db.session_factory, alice, StrategyDraft("Told", CROSS, implied_family="momentum"))
    assert family_of(db, told.id) == "momentum"  # Gemini's (or the caller's) word wins
    # A later save of the same code without a family keeps the recorded one; new code is analysed again.
    save_strategy(db.session_factory, alice, StrategyDraft("Told", CROSS, "now explained"), strategy_id=told.id)
    assert family_of(db, told.id) == "momentum"
    save_strategy(db.session_factory, alice, StrategyDraft("Told", MEAN_REVERSION), strategy_id=told.id)
    assert family_of(db, told.id) == "mean_reversion"
