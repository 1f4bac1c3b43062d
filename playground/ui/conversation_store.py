"""Conversations saved as they happen: one JSONL file per conversation, one line per event.

Each line is flushed as soon as it is written, so a crash or a kill loses at most the tokens
that had not reached the screen yet, and the next start can rebuild the conversation from the
file. Nothing here imports Textual: the store is plain data in, plain data out.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
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


@dataclass
class ConversationFile:
    """An append-only JSONL log of one conversation."""

    path: Path
    id: str
    _fh: TextIO | None = field(default=None, repr=False)

    @classmethod
    def create(cls, directory: Path | None = None) -> ConversationFile:
        directory = directory or conversations_dir()
        directory.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        conv_id = f"{stamp}-{uuid.uuid4().hex[:6]}"
        return cls(directory / f"{conv_id}.jsonl", conv_id)

    @classmethod
    def open_existing(cls, path: Path) -> ConversationFile:
        return cls(path, path.stem)

    def append(self, kind: str, **payload: Any) -> None:
        """Write one event and flush it to the OS at once."""
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")
        record = {"type": kind, "t": round(time.time(), 3), **payload}
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def events(self) -> Iterator[dict[str, Any]]:
        yield from read_events(self.path)


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """Every intact line of a conversation file; a torn last line (a kill mid-write) is skipped."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def latest_conversation(directory: Path | None = None) -> Path | None:
    """The most recently written conversation file, if any."""
    directory = directory or conversations_dir()
    if not directory.is_dir():
        return None
    files = sorted(directory.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    return files[-1] if files else None
