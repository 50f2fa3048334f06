"""Variable lists are found by name among the trader's own (and those others shared, read-only): another
trader's private list is "no such list", and nobody deletes or replaces another's.

The refusals name the list asked for, so they are compared with the words a name nobody uses gets."""

from __future__ import annotations

import pytest

from core.backtest.variable_lists import VariableListError, delete_list, get_list, save_list, visible_lists
from core.market.store import BarStore
from core.services.batches import Batches
from tests.scoping.unchanged import nothing_changes


@pytest.fixture
def anns_list(sessions, ann) -> str:
    save_list(sessions, ann, "slows", "number", [30, 60])
    return "slows"


def test_get_list_refuses_another_traders_private_list(db, sessions, bob, anns_list) -> None:
    with nothing_changes(db), pytest.raises(VariableListError) as theirs:
        get_list(sessions, bob, anns_list)
    with pytest.raises(VariableListError) as missing:
        get_list(sessions, bob, "nobodys")
    assert str(theirs.value) == str(missing.value).replace("nobodys", anns_list) == "no variable list named 'slows'"


def test_delete_list_refuses_another_traders_list_even_a_shared_one(db, sessions, ann, bob, anns_list) -> None:
    save_list(sessions, ann, "shared", "number", [1], shared=True)
    assert [s.name for s in visible_lists(sessions, bob)] == ["shared"]  # readable by Bob, not his to delete
    for name in (anns_list, "shared"):
        with nothing_changes(db), pytest.raises(VariableListError, match=f"^you have no variable list named '{name}'$"):
            delete_list(sessions, bob, name)
    assert sorted(s.name for s in visible_lists(sessions, ann)) == ["shared", "slows"]


def test_save_list_of_the_same_name_makes_the_traders_own_and_leaves_the_others(sessions, ann, bob, anns_list):
    save_list(sessions, bob, anns_list, "number", [5])
    assert get_list(sessions, ann, anns_list).values == (30, 60)
    assert get_list(sessions, bob, anns_list).values == (5,)


def test_batches_variables_refuses_another_traders_private_list(db, sessions, bob, anns_list) -> None:
    batches = Batches(sessions, lambda: BarStore(db.engine))
    with nothing_changes(db), pytest.raises(VariableListError, match=r"^no variable list named 'slows'$"):
        batches.variables(bob, [], [("slow", anns_list)])
