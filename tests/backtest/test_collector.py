"""The backtest's collector guard: frozen during the block, restored after, hands off where others manage it."""

from __future__ import annotations

import gc

import pytest

from core.backtest.collector import heap_frozen_for_collector


@pytest.fixture
def automatic_collection():
    was_enabled, frozen = gc.isenabled(), gc.get_freeze_count()
    gc.unfreeze()
    gc.enable()
    yield
    gc.unfreeze()
    if frozen:
        gc.freeze()
    if not was_enabled:
        gc.disable()


def test_what_existed_is_out_of_the_collectors_walk_inside_and_back_after(automatic_collection):
    before = [[] for _ in range(10)]  # tracked containers that exist before the block
    with heap_frozen_for_collector() as froze:
        assert froze and gc.get_freeze_count() >= len(before)
        made = [[] for _ in range(10)]
        assert all(gc.is_tracked(x) for x in made)
    assert gc.get_freeze_count() == 0
    assert any(x is before[0] for x in gc.get_objects(generation=2))  # back where the collector walks


def test_a_garbage_cycle_made_inside_is_still_collected(automatic_collection):
    class Node:
        pass

    with heap_frozen_for_collector():
        a, b = Node(), Node()
        a.other, b.other = b, a
        probe = [a]
        del a, b
        probe.clear()
        assert gc.collect() >= 2  # the cycle of two nodes (and their dicts)


def test_an_error_inside_still_unfreezes(automatic_collection):
    with pytest.raises(RuntimeError), heap_frozen_for_collector():
        raise RuntimeError("strategy failed")
    assert gc.get_freeze_count() == 0


def test_a_collector_managed_elsewhere_is_left_alone(automatic_collection):
    gc.disable()  # as the GUI's collector does
    gc.freeze()
    frozen = gc.get_freeze_count()
    with heap_frozen_for_collector() as froze:
        assert not froze
    assert gc.get_freeze_count() == frozen and not gc.isenabled()
