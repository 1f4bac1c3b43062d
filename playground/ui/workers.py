"""Thread workers for generation, scoring and loading, and the messages they post.

Each model runs in its own thread worker (one group per side, exclusive, so a new turn
cancels the old one). Workers never touch widgets: they talk to the app with `post_message`,
which is thread-safe. Tokens are batched per frame (8 a second), each batch with the tok/s so
far, so a fast model does not make the app handle a message, or repaint, once per token.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from textual.message import Message
from textual.message_pump import MessagePump
from textual.worker import get_current_worker

from playground.engine.backend import Backend, SettingsSource
from playground.engine.settings import SamplerSettings
from playground.engine.types import Finished, TokenEvent
from playground.session.turns import OtherView

FRAME_S = 1 / 8
"""Tokens are handed to the UI at most this often."""

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


class TokensArrived(Message):
    """A batch of tokens from one side's stream, with the count and tok/s so far."""

    def __init__(
        self, side: str, turn: int, events: list[TokenEvent], tokens: int, tok_s: float
    ) -> None:
        super().__init__()
        self.side = side
        self.turn = turn
        self.events = events
        self.tokens = tokens
        self.tok_s = tok_s


class GenerationDone(Message):
    def __init__(self, side: str, turn: int, finished: Finished) -> None:
        super().__init__()
        self.side = side
        self.turn = turn
        self.finished = finished


class ScoresReady(Message):
    """The other model's teacher-forced view of one side's reply."""

    def __init__(
        self, side: str, turn: int, views: list[OtherView | None], analysis: Any = None
    ) -> None:
        super().__init__()
        self.side = side
        self.turn = turn
        self.views = views
        self.analysis = analysis
        """The ShiftAnalysis the views came from (None for an empty reply)."""


class ModelReady(Message):
    def __init__(self, side: str, model: Backend, spec: Any) -> None:
        super().__init__()
        self.side = side
        self.model = model
        self.spec = spec


def generate(
    target: MessagePump,
    side: str,
    turn: int,
    model: Backend,
    prompt: Sequence[int],
    settings: Callable[[], SamplerSettings],
    max_tokens: int,
) -> Finished:
    """Stream one reply, posting batches of tokens; runs inside a thread worker.

    The settings are read live before every token where the backend can change its sampler
    mid-stream; elsewhere the reply keeps the settings it started with (the sampling panel
    says so).

    Raises whatever the engine raises (PromptTooLong, DecodeError, Unsupported): the app's
    single Worker.StateChanged handler turns it into a message in the pane.
    """
    worker = get_current_worker()
    lower_priority()
    source: SettingsSource = settings if model.capabilities.live_sampler_changes else settings()
    stream = model.stream(
        prompt,
        settings=source,
        max_tokens=max_tokens,
        top_k=5,
        cancel=lambda: worker.is_cancelled,
    )
    batch: list[TokenEvent] = []
    count = 0
    t_first = 0.0
    last_post = time.monotonic()
    try:
        for item in stream:
            if isinstance(item, Finished):
                if batch:
                    target.post_message(
                        TokensArrived(side, turn, batch, item.tokens, item.tok_per_s)
                    )
                target.post_message(GenerationDone(side, turn, item))
                return item
            if count == 0:
                t_first = time.monotonic()
            count += 1
            batch.append(item)
            now = time.monotonic()
            if now - last_post >= FRAME_S:
                elapsed = now - t_first
                rate = count / elapsed if elapsed else 0.0
                target.post_message(TokensArrived(side, turn, batch, count, rate))
                batch = []
                last_post = now
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # releases the model's lock when the worker stops early
    raise RuntimeError("the stream ended without a Finished event")


def score_reply(
    target: MessagePump,
    side: str,
    turn: int,
    analyse: Callable[[], tuple[list[OtherView | None], Any]],
) -> None:
    """Run the shift analysis of one reply (teacher-forced, in the scorer's thread)."""
    lower_priority()
    views, analysis = analyse()
    target.post_message(ScoresReady(side, turn, views, analysis))


def load_model(target: MessagePump, side: str, spec: Any, opener: Callable[[Any], Backend]) -> None:
    """Load one model off the UI thread; a failure surfaces through Worker.StateChanged."""
    model = opener(spec)
    target.post_message(ModelReady(side, model, spec))
