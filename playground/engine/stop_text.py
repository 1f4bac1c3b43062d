"""Streaming text that ends before a stop string, without ever showing the stop string.

A stop string can arrive split across tokens ("\\n\\nUs" then "er:"), so a caller that
prints as tokens arrive holds back any tail that could still turn into a stop string and
prints it only once it is clear that it does not.
"""

from __future__ import annotations

from collections.abc import Sequence


def shown_length(text: str, stops: Sequence[str]) -> int:
    """How much of `text` can be shown now: up to the first stop string, and never a tail
    that is the beginning of one."""
    stops = [s for s in stops if s]
    cut = len(text)
    for s in stops:
        at = text.find(s)
        if at >= 0:
            cut = min(cut, at)
    for s in stops:
        for k in range(min(len(s) - 1, cut), 0, -1):
            if text.endswith(s[:k], 0, cut):
                cut = min(cut, cut - k)
                break
    return cut


class StopHoldback:
    """Feed it the reply's text as it grows; it returns the part that is safe to print."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.text = ""
        self.shown = 0

    def push(self, added: str) -> str:
        """The new text that can be printed now."""
        self.text += added
        if not self.stops:
            out, self.shown = self.text[self.shown :], len(self.text)
            return out
        upto = max(self.shown, shown_length(self.text, self.stops))
        out, self.shown = self.text[self.shown : upto], upto
        return out

    def finish(self, final_text: str) -> str:
        """What is left to print once the reply ended (`final_text` is cut before a stop)."""
        return final_text[self.shown :] if len(final_text) > self.shown else ""
