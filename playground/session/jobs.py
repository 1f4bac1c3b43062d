"""Work the session hands to the app to run, each named by a typed value.

A `Work` says what a thread worker does: its kind, its side, and the turn (tree node) it
fills. The session decides what runs (a stream, a fork's stream, a scoring, a load); the app
decides where (a thread worker) and hands each result back to the session with its Work, so
a result or a failure finds its turn without parsing a worker's name.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from playground.engine.backend import Backend, SettingsSource
from playground.engine.settings import SamplerSettings
from playground.engine.types import StreamItem
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


CancelCheck = Callable[[], bool]


@dataclass(eq=False)
class StreamJob:
    """A reply to stream: `start` opens the model's stream with the runner's cancel check;
    `stop` (the session's Esc) ends it within a token, the reply kept."""

    work: Work
    open: Callable[[CancelCheck], Iterator[StreamItem]]
    _stopped: threading.Event = field(default_factory=threading.Event, repr=False)

    def start(self, cancelled: CancelCheck) -> Iterator[StreamItem]:
        flag = self._stopped
        return self.open(lambda: flag.is_set() or cancelled())

    def stop(self) -> None:
        self._stopped.set()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()


@dataclass(eq=False)
class CallJob:
    """One call to run off the app's thread (a scoring, a load); its result goes back to
    the session (`Session.scored`, `Session.model_ready`)."""

    work: Work
    call: Callable[[], Any]


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the user should read: a warning, or why something could not be done."""

    side: str | None
    message: str
    severity: str = "information"
    """"information", "warning" or "error", as the app's notifications take them."""


def live_settings(model: Backend, settings: Callable[[], SamplerSettings]) -> SettingsSource:
    """The settings, read before every token where the backend can change its sampler
    mid-stream; elsewhere the reply keeps the settings it started with (the sampling panel
    says so)."""
    return settings if model.capabilities.live_sampler_changes else settings()
