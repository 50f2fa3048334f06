"""Saved variable lists: typed values checked on save, replace by name, sharing, privacy."""

from __future__ import annotations

import pytest

from core.backtest.assignments import Variable
from core.backtest.variable_lists import (
    VariableListError,
    delete_list,
    get_list,
    save_list,
    visible_lists,
)

PASSWORD = "Correct-Horse-2026"


@pytest.fixture
def users(accounts):
    return (
        accounts.sign_up("a@example.com", "alice", PASSWORD).id,
        accounts.sign_up("b@example.com", "bob", PASSWORD).id,
    )


def test_a_saved_list_comes_back_as_a_batch_variable(db, users):
    alice, _ = users
    save_list(db.session_factory, alice, "fast periods", "number", [5, 10, 20.5])
    saved = get_list(db.session_factory, alice, "fast periods")
    assert saved.values == (5, 10, 20.5) and saved.type == "number" and saved.owned
    assert saved.as_variable("fast") == Variable("fast", (5, 10, 20.5))


def test_saving_again_replaces_the_list(db, users):
    alice, _ = users
    first = save_list(db.session_factory, alice, "etfs", "ticker", ["spy", "qqq"])
    again = save_list(db.session_factory, alice, "etfs", "ticker", ["IWM"], description="small caps")
    assert first == again
    saved = get_list(db.session_factory, alice, "etfs")
    assert saved.values == ("IWM",) and saved.description == "small caps"


@pytest.mark.parametrize(
    ("kind", "values", "message"),
    [
        ("number", [1, "2"], "not a finite number"),
        ("number", [1, float("nan")], "not a finite number"),
        ("number", [True], "not a finite number"),
        ("ticker", ["SPY", "no way!"], "not a ticker symbol"),
        ("date", ["2025-13-01"], "not an ISO date"),
        ("string", [3], "not text"),
        ("colour", ["red"], "unknown list type"),
        ("number", [], "at least one value"),
        ("ticker", ["spy", "SPY"], "each value once"),
    ],
)
def test_bad_values_are_refused_and_nothing_is_saved(db, users, kind, values, message):
    alice, _ = users
    with pytest.raises(VariableListError, match=message):
        save_list(db.session_factory, alice, "bad", kind, values)
    assert visible_lists(db.session_factory, alice) == []


def test_dates_are_stored_as_iso_dates(db, users):
    alice, _ = users
    save_list(db.session_factory, alice, "starts", "date", ["2025-01-02", "2025-02-03"])
    assert get_list(db.session_factory, alice, "starts").values == ("2025-01-02", "2025-02-03")


def test_private_lists_stay_private_and_shared_lists_are_read_only_for_others(db, users):
    alice, bob = users
    save_list(db.session_factory, alice, "mine", "number", [1, 2])
    save_list(db.session_factory, alice, "club etfs", "ticker", ["SPY"], shared=True)
    save_list(db.session_factory, bob, "bobs", "number", [3])
    seen_by_bob = visible_lists(db.session_factory, bob)
    assert [(s.name, s.owned) for s in seen_by_bob] == [("bobs", True), ("club etfs", False)]
    with pytest.raises(VariableListError, match="no variable list named 'mine'"):
        get_list(db.session_factory, bob, "mine")
    with pytest.raises(VariableListError, match="you have no variable list"):
        delete_list(db.session_factory, bob, "club etfs")
    delete_list(db.session_factory, alice, "club etfs")
    assert [s.name for s in visible_lists(db.session_factory, bob)] == ["bobs"]
