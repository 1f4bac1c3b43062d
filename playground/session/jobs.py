"""Work the session hands out: generating, scoring and loading, each named by a typed value.

A `Job` is what to run; the app decides where (a thread worker) and hands every event the
job emits back to the session on its own thread. The job's `Work` says which side and
which turn it belongs to, so results and failures find their turn without parsing a
worker's name. Streams are batched here, per frame, so a fast model does not make the app
handle one message per token.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from playground.engine.types import Finished, StreamItem, TokenEvent
from playground.session.turns import OTHER, OtherView

FRAME_S = 1 / 8
"""Tokens are handed to the app at most this often."""

MODEL_NICENESS = 5
"""How much lower than the app's thread the model threads run (Linux thread niceness).

The models keep every core busy while they stream. At equal priority a key press waits its
turn with them; a few steps lower, the scheduler runs the app's thread as soon as it has
work, and the models still get every cycle it does not use."""


def lower_priority(niceness: int = MODEL_NICENESS) -> None:
    """Run the calling thread (and the threads it starts) below the app's thread.

    On Linux, niceness is per thread and inherited by threads created later, such as
    llama.cpp's compute threads. Where the OS has no per-thread niceness, nothing changes.
    """
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + niceness))
    except (AttributeError, OSError):
        pass


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


@dataclass(frozen=True, slots=True)
class TokensBatch:
    """Tokens of one stream since the last batch, with the count and tok/s so far."""

    work: Work
    events: list[TokenEvent]
    tokens: int
    tok_s: float


@dataclass(frozen=True, slots=True)
class StreamDone:
    work: Work
    finished: Finished


@dataclass(frozen=True, slots=True)
class ScoresDone:
    """The other model's teacher-forced view of one reply."""

    work: Work
    views: list[OtherView | None]
    analysis: Any = None


@dataclass(frozen=True, slots=True)
class ModelLoaded:
    work: Work
    model: Any
    spec: Any


JobEvent = TokensBatch | StreamDone | ScoresDone | ModelLoaded
Emit = Callable[[JobEvent], None]


@dataclass(eq=False)
class Job:
    """One piece of work: `run` it in a thread; it emits its events and returns."""

    work: Work
    body: Callable[[Callable[[], bool], Emit], None]
    _cancelled: threading.Event = field(default_factory=threading.Event, repr=False)

    def cancel(self) -> None:
        """Ask the job to stop: a stream stops within one token, its reply kept."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def run(self, emit: Emit, also_cancelled: Callable[[], bool] | None = None) -> None:
        """Run to the end in the calling thread (below the app's priority).

        Args:
            emit: gets each event; from a thread, it must be thread-safe (post_message is).
            also_cancelled: another stop signal, e.g. the thread worker's own.

        Raises:
            Whatever the model raises (PromptTooLong, DecodeError, ModelLoadError): the
            caller hands it to `Session.failed`.
        """
        lower_priority()
        flag = self._cancelled
        if also_cancelled is None:
            cancelled = flag.is_set
        else:
            other = also_cancelled

            def cancelled() -> bool:
                return flag.is_set() or other()

        self.body(cancelled, emit)


OpenStream = Callable[[Callable[[], bool]], Iterator[StreamItem]]
"""Starts a model's stream with a cancel check."""


def stream_body(work: Work, open_stream: OpenStream) -> Callable[[Callable[[], bool], Emit], None]:
    """A job body that runs one stream and emits its tokens in batches, then its Finished."""

    def body(cancelled: Callable[[], bool], emit: Emit) -> None:
        stream = open_stream(cancelled)
        batch: list[TokenEvent] = []
        count = 0
        t_first = 0.0
        last_post = time.monotonic()
        try:
            for item in stream:
                if isinstance(item, Finished):
                    if batch:
                        emit(TokensBatch(work, batch, item.tokens, item.tok_per_s))
                    emit(StreamDone(work, item))
                    return
                if count == 0:
                    t_first = time.monotonic()
                count += 1
                batch.append(item)
                now = time.monotonic()
                if now - last_post >= FRAME_S:
                    elapsed = now - t_first
                    emit(TokensBatch(work, batch, count, count / elapsed if elapsed else 0.0))
                    batch = []
                    last_post = now
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # releases the model's lock when the job stops early
        raise RuntimeError("the stream ended without a Finished event")

    return body
