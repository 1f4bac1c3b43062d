"""Rebuild both transcripts from a conversation file, counting what could not be read.

A file can be damaged: cut by a kill mid-write, edited by hand, or not a conversation at
all. Lines that are not JSON objects in UTF-8 are skipped by the store's reader; records
with wrong fields or types are skipped by the session's replayer; both are counted, so a
resume can say how many, and every valid record comes back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from playground.session.store import Replayer
from playground.session.turns import SIDES, SideTranscript
from playground.ui.conversation_store import read_log


@dataclass
class Replayed:
    """The branch on screen per side, and how many lines or records were skipped."""

    transcripts: dict[str, SideTranscript] = field(
        default_factory=lambda: {s: SideTranscript(s) for s in SIDES}
    )
    skipped: int = 0

    def __getitem__(self, side: str) -> SideTranscript:
        return self.transcripts[side]


def replay(path: Path) -> Replayed:
    """Every turn as it was saved; a reply cut off by a kill comes back marked stopped.

    Raises:
        OSError: the file cannot be read at all.
    """
    log = read_log(path)
    replayer = Replayer()
    for ev in log.events:
        replayer.apply(ev)
    tree = replayer.finish()
    out = Replayed(skipped=log.skipped + replayer.skipped)
    for side in SIDES:
        tree.transcript_of(side, out.transcripts[side])
    return out
