"""Garbage collection that does not stall the screen.

A long conversation keeps a few hundred thousand objects alive (every token's event, top-k
and sampler trace), and Textual allocates short-lived objects by the thousand per frame.
With Python's defaults that means hundreds of young collections a second and, now and then,
a full collection that walks every live object: 35-45 ms measured here, long enough to
miss the keypress target on its own. So the app collects young objects less often and, at
quiet moments (a model loaded, a turn finished), collects once and freezes what survives,
so later collections no longer walk the conversation.
"""

from __future__ import annotations

import gc

THRESHOLDS = (10_000, 10, 10)
"""Allocations before a young collection (Python's default is 700), then as usual."""


def tune() -> None:
    """Collect young objects less often; called once when the app starts."""
    gc.set_threshold(*THRESHOLDS)


def settle() -> None:
    """At a quiet moment: free what is garbage now, then move every surviving object out
    of the collector's sight (gc.freeze), so the next collections stay short.

    Frozen objects are still freed by reference counting when nothing refers to them, but
    a reference cycle among them (a closed screen's widgets) is only found by a full
    collection that sees them. So each quiet moment first gives the previous freeze back
    (one full collection, once per turn, after the reply's last paint), then freezes
    again: garbage lives at most until the next quiet moment.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
