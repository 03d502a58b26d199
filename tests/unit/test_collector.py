"""hub.collector.settle: what start-up built is frozen and the young generation is collected
less often; CPython's defaults are restored after each test."""
from __future__ import annotations

import gc
import weakref

import pytest

from hub import collector


@pytest.fixture
def restored():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settle_freezes_start_up_objects_and_raises_the_young_threshold(restored):
    built_at_start_up = [{"mapping": n} for n in range(1000)]
    before = gc.get_threshold()
    collector.settle()
    assert gc.get_freeze_count() >= len(built_at_start_up)
    assert gc.get_threshold() == (collector.YOUNG_THRESHOLD, before[1], before[2])


def test_cyclic_garbage_is_still_freed_after_settling(restored):
    collector.settle()

    class Node:
        pass

    freed = []
    node = Node()
    node.self = node
    weakref.finalize(node, freed.append, True)
    del node
    # A young collection comes once more containers are made than freed: hold some.
    held = [[] for _ in range(2 * collector.YOUNG_THRESHOLD)]
    assert freed == [True] and len(held)
