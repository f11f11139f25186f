"""`wasim serve --gc-freeze`: survivors are frozen, and a connection turnover thaws them."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from wasim.connections import TALLY
from wasim.gcfreeze import MIN_CLOSED, Freezer, freeze_survivors


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector can free it


@pytest.fixture
def frozen_cycle() -> Iterator[weakref.ref[Node]]:
    """A dead reference cycle that was frozen while it lived, as a closed connection's is."""
    node = Node()
    gc.collect()
    freeze_survivors("stop", {"generation": 2})
    dead = weakref.ref(node)
    del node
    try:
        yield dead
    finally:
        gc.unfreeze()
        gc.collect()


def test_gcfreeze_frozen_cycle_outlives_a_full_collection(frozen_cycle: weakref.ref[Node]) -> None:
    gc.collect()
    assert frozen_cycle() is not None  # the leak --gc-freeze had


def test_gcfreeze_waits_while_connections_stay(frozen_cycle: weakref.ref[Node]) -> None:
    freezer = Freezer(connections=range(1000))
    TALLY.closed += 999
    assert not freezer.check()
    assert frozen_cycle() is not None


def test_gcfreeze_thaws_once_connections_turned_over(frozen_cycle: weakref.ref[Node]) -> None:
    freezer = Freezer(connections=range(10))
    TALLY.closed += MIN_CLOSED
    assert freezer.check()
    assert frozen_cycle() is None
    assert not freezer.check()  # counted from here again
