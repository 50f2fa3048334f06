"""The backtest's collector guard: frozen during the block, restored after, hands off where others manage it."""

from __future__ import annotations

import gc
import weakref

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


def walked(obj: object) -> bool:
    """Whether the collector's generations (not the frozen one) hold ``obj``."""
    return any(x is obj for g in (0, 1, 2) for x in gc.get_objects(generation=g))


def test_what_existed_is_out_of_the_collectors_walk_inside_and_back_after(automatic_collection):
    before = []  # a tracked container that exists before the block
    assert walked(before)
    with heap_frozen_for_collector() as froze:
        assert froze and gc.get_freeze_count() > 0
        made = []
        assert not walked(before) and walked(made)  # only what the block makes is walked
    assert gc.get_freeze_count() == 0 and walked(before)


def test_a_garbage_cycle_made_inside_is_still_collected(automatic_collection):
    class Node:
        pass

    with heap_frozen_for_collector():
        a, b = Node(), Node()
        a.other, b.other = b, a
        alive = weakref.ref(a)
        del a, b
        gc.collect()
        assert alive() is None


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
    # neither unfrozen (the count would drop to 0) nor frozen again (``froze``); another thread may free a frozen
    # object meanwhile, so the count may fall by a few
    assert 0 < gc.get_freeze_count() <= frozen and not gc.isenabled()
