"""The server's collector settings: startup objects frozen, generation 0 collected less often,
and cycles made while serving still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from davserver.gc_tuning import GEN0_THRESHOLD, tune_for_serving


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_tuned_collector_freezes_startup_and_still_collects_cycles(restored_gc: None) -> None:
    _, gen1, gen2 = gc.get_threshold()
    tune_for_serving()
    assert gc.get_threshold() == (GEN0_THRESHOLD, gen1, gen2)
    assert gc.get_freeze_count() > 0
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    assert gone() is not None  # only the collector can free a cycle
    kept = [Node() for _ in range(2 * GEN0_THRESHOLD)]  # generation 0 fills up: collected
    assert gone() is None
    assert len(kept) == 2 * GEN0_THRESHOLD
