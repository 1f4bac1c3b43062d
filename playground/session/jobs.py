"""Work the app runs for the session, named by a typed value.

A `Work` says what a thread worker does: its kind, its side, and the turn (tree node) it
fills. The app keeps one per worker, so a result or a failure finds its turn without
parsing the worker's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from playground.session.turns import OTHER


class WorkKind(StrEnum):
    GENERATE = "generate"
    SCORE = "score"
    LOAD = "load"


@dataclass(frozen=True, slots=True)
class Work:
    """Which work this is: its kind, its side, and the turn (tree node) it fills."""

    kind: WorkKind
    side: str
    node: int | None = None

    @property
    def group(self) -> str:
        """Work in one group runs one at a time: a side streams one reply at a time, and a
        model scores the other side's replies one after the other."""
        if self.kind is WorkKind.SCORE:
            return f"score-{OTHER[self.side]}"
        return f"{self.kind.value}-{self.side}"
