"""Conversations saved as they happen: one JSONL file per conversation, one line per event.

Each line is flushed as soon as it is written, so a crash or a kill loses at most the tokens
that had not reached the screen yet, and the next start can rebuild the conversation from the
file. Nothing here imports Textual: the store is plain data in, plain data out.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from playground.session.records import (
    finished_record,
    jsonable,
    token_from_record,
    token_record,
    trace_from_record,
    view_from_record,
    view_record,
)

__all__ = [
    "ConversationFile",
    "conversations_dir",
    "data_dir",
    "finished_record",
    "jsonable",
    "latest_conversation",
    "read_events",
    "token_from_record",
    "token_record",
    "trace_from_record",
    "view_from_record",
    "view_record",
]

DATA_DIR_ENV = "PLAYGROUND_DATA_DIR"
"""Overrides where conversations, exports and screenshots go (tests point it at tmp)."""


def data_dir() -> Path:
    """The user data directory (platformdirs, no app author), or $PLAYGROUND_DATA_DIR."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("playground", appauthor=False))


def conversations_dir() -> Path:
    return data_dir() / "conversations"


STORE_FIX = (
    f"Fix: set {DATA_DIR_ENV} to a folder you can write to (or free some space); until then "
    "the app keeps running but this conversation is not saved."
)


def describe_os_error(exc: OSError) -> str:
    """An OS error as 'why' words a user can act on (the path is said by the caller)."""
    why = exc.strerror or str(exc)
    if isinstance(exc, NotADirectoryError | FileExistsError):
        why = f"{why} (a file stands where a folder should be)"
    return why


@dataclass
class ConversationFile:
    """An append-only JSONL log of one conversation.

    A write that fails (the data dir is unusable, the disk is full) never raises: the
    problem is kept in `problem` and passed to `on_problem`, so the app keeps running and
    says where and why. The next append tries again.
    """

    path: Path
    id: str
    on_problem: Callable[[str | None], None] | None = field(default=None, repr=False)
    """Called with the problem when saving starts failing, and with None when it works again."""
    problem: str | None = None
    """Why the last append could not be saved, or None while saving works."""
    _fh: TextIO | None = field(default=None, repr=False)

    @classmethod
    def create(cls, directory: Path | None = None) -> ConversationFile:
        """A new conversation file's name; the folder and the file are made on first append."""
        directory = directory or conversations_dir()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        conv_id = f"{stamp}-{uuid.uuid4().hex[:6]}"
        return cls(directory / f"{conv_id}.jsonl", conv_id)

    @classmethod
    def open_existing(cls, path: Path) -> ConversationFile:
        return cls(path, path.stem)

    def _open(self) -> TextIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a", encoding="utf-8")
        # A file cut mid-record (a kill during a write) ends without a newline: start on a
        # fresh line, or the next record would be glued to the torn one and lost with it.
        try:
            with self.path.open("rb") as raw:
                raw.seek(0, os.SEEK_END)
                if raw.tell() > 0:
                    raw.seek(-1, os.SEEK_END)
                    if raw.read(1) != b"\n":
                        fh.write("\n")
        except OSError:
            fh.close()
            raise
        return fh

    def append(self, kind: str, **payload: Any) -> None:
        """Write one event and flush it to the OS at once; a failure is kept in `problem`
        (None again once a write succeeds)."""
        record = {"type": kind, "t": round(time.time(), 3), **payload}
        line = json.dumps(record, ensure_ascii=False) + "\n"
        try:
            if self._fh is None:
                self._fh = self._open()
            self._fh.write(line)
            self._fh.flush()
        except OSError as exc:
            self._drop_handle()
            self._set_problem(
                f"cannot save the conversation to {self.path}: {describe_os_error(exc)}. "
                + STORE_FIX
            )
            return
        self._set_problem(None)

    def _drop_handle(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None

    def _set_problem(self, problem: str | None) -> None:
        changed = (problem is None) != (self.problem is None)
        self.problem = problem
        if changed and self.on_problem is not None:
            self.on_problem(problem)

    def close(self) -> None:
        self._drop_handle()

    def events(self) -> Iterator[dict[str, Any]]:
        yield from read_events(self.path)


@dataclass
class EventLog:
    """The records of a conversation file that could be read, and what was skipped."""

    events: list[dict[str, Any]]
    skipped: int = 0
    """Lines that were not a JSON object in UTF-8 (damaged, or a torn last line)."""


def read_log(path: Path) -> EventLog:
    """Every intact record of a conversation file; damaged lines are counted, not fatal.

    A line is skipped when it is not UTF-8, not JSON, or not a JSON object (a torn last
    line from a kill mid-write is one of these).

    Raises:
        OSError: the file cannot be read at all.
    """
    events: list[dict[str, Any]] = []
    skipped = 0
    for raw in path.read_bytes().split(b"\n"):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            skipped += 1
            continue
        if not isinstance(record, dict):
            skipped += 1
            continue
        events.append(record)
    return EventLog(events, skipped)


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """Every intact record of a conversation file (see read_log)."""
    yield from read_log(path).events


def latest_conversation(directory: Path | None = None) -> Path | None:
    """The most recently written conversation file, if any."""
    directory = directory or conversations_dir()
    try:
        if not directory.is_dir():
            return None
        files = sorted(directory.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    except OSError:
        return None
    return files[-1] if files else None
