"""Thread workers that run the session's jobs, and the messages they post back.

The session core decides what runs (`playground.session.jobs`); this runs it off the app's
thread. Each model streams in its own thread worker (one group per side, exclusive, so a new
turn cancels the old one). Workers never touch widgets: they talk to the app with
`post_message`, which is thread-safe, and every message carries the job's typed `Work`.
Tokens are batched per frame (8 a second), each batch with the tok/s so far, so a fast model
does not make the app handle a message, or repaint, once per token.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from textual.message import Message
from textual.message_pump import MessagePump
from textual.worker import get_current_worker

from playground.engine.types import Finished, TokenEvent
from playground.session.jobs import CallJob, StreamJob, Work

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


@dataclass
class TokensArrived(Message):
    """A batch of tokens from one stream, with the count and tok/s so far."""

    work: Work
    events: list[TokenEvent]
    tokens: int
    tok_s: float


@dataclass
class GenerationDone(Message):
    work: Work
    finished: Finished


@dataclass
class CallDone(Message):
    """A call job's result: a scoring's (views, analysis), a load's model."""

    work: Work
    result: Any


def generate(target: MessagePump, job: StreamJob) -> Finished:
    """Run one stream, posting batches of tokens; runs inside a thread worker.

    Raises whatever the engine raises (PromptTooLong, DecodeError, Unsupported): the app's
    single Worker.StateChanged handler hands it to the session.
    """
    worker = get_current_worker()
    lower_priority()
    work = job.work
    stream = job.start(lambda: worker.is_cancelled)
    batch: list[TokenEvent] = []
    count = 0
    t_first = 0.0
    last_post = time.monotonic()
    try:
        for item in stream:
            if isinstance(item, Finished):
                if batch:
                    target.post_message(TokensArrived(work, batch, item.tokens, item.tok_per_s))
                target.post_message(GenerationDone(work, item))
                return item
            if count == 0:
                t_first = time.monotonic()
            count += 1
            batch.append(item)
            now = time.monotonic()
            if now - last_post >= FRAME_S:
                elapsed = now - t_first
                rate = count / elapsed if elapsed else 0.0
                target.post_message(TokensArrived(work, batch, count, rate))
                batch = []
                last_post = now
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # releases the model's lock when the worker stops early
    raise RuntimeError("the stream ended without a Finished event")


def call(target: MessagePump, job: CallJob) -> None:
    """Run one call (a scoring, a load) below the app's priority and post its result."""
    lower_priority()
    target.post_message(CallDone(job.work, job.call()))
