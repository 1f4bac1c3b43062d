"""One clock for streaming repaints, so both panes paint in the same screen update.

Each screen update costs the app thread about the same whatever changed in it (Textual
re-renders every widget the changed area crosses), and on a small machine that time comes
out of the models' decoding. Two panes painting on their own timers, and their status lines
on a third, gave two to three updates per frame; this clock gathers every paint requested
within one frame into one callback, at most `fps` times a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

from textual.message_pump import MessagePump


class FrameClock:
    """Run the paints requested during a frame together, at most `fps` times a second."""

    def __init__(self, owner: MessagePump, fps: float) -> None:
        self._owner = owner
        self._interval = 1.0 / fps
        self._pending: dict[Hashable, Callable[[], None]] = {}
        self._scheduled = False
        self._last = 0.0

    def request(self, key: Hashable, paint: Callable[[], None]) -> None:
        """Paint with `paint` at the next frame; a later request with the same key wins."""
        self._pending[key] = paint
        if self._scheduled:
            return
        self._scheduled = True
        wait = self._last + self._interval - time.monotonic()
        if wait > 0:
            self._owner.set_timer(wait, self._flush)
        else:
            self._owner.call_later(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        self._last = time.monotonic()
        pending, self._pending = self._pending, {}
        for paint in pending.values():
            paint()
