"""Freezing survivors at quiet moments must not keep garbage forever.

A screen the user opened during a turn is frozen with everything else; its widgets form
reference cycles, so once it closes only a collection that sees them can free them.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from playground.ui import gc_policy


class Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_a_cycle_frozen_while_alive_is_freed_at_the_next_quiet_moment() -> None:
    objects = [Cycle() for _ in range(20)]
    refs = [weakref.ref(o) for o in objects]
    gc_policy.settle()  # frozen while in use
    assert gc.get_freeze_count() > 0
    del objects  # now garbage, each object a cycle
    gc_policy.settle()
    assert all(r() is None for r in refs)


def test_survivors_are_frozen_so_collections_skip_them() -> None:
    keep = [Cycle() for _ in range(20)]
    gc_policy.settle()
    frozen = gc.get_freeze_count()
    assert frozen >= len(keep)
    # frozen objects sit in the permanent generation: a full collection does not walk them
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert not any(id(k) in oldest for k in keep)
