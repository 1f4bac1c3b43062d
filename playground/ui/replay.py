"""Rebuild both transcripts from a conversation file (resume after a restart or a kill).

A file can be damaged: cut by a kill mid-write, edited by hand, or not a conversation at
all. Replay takes every record it can use, skips the rest, and counts what it skipped, so
a resume never crashes and never drops a good turn because of a bad line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playground.engine.types import Finished, StopReason, TokenKind
from playground.session.turns import SIDES, OtherView, PromptToken, SideTranscript, Turn
from playground.ui.conversation_store import read_log, token_from_record, view_from_record

_PER_SIDE = ("prompt", "tokens", "finish", "error", "scores")


class BadRecord(Exception):
    """A record with the right shape of line but the wrong fields or types."""


@dataclass
class Replayed:
    """Both transcripts as saved, and how many records could not be used."""

    transcripts: dict[str, SideTranscript] = field(
        default_factory=lambda: {s: SideTranscript(s) for s in SIDES}
    )
    skipped: int = 0

    def __getitem__(self, side: str) -> SideTranscript:
        return self.transcripts[side]


def _str(ev: dict[str, Any], key: str) -> str:
    value = ev.get(key)
    if not isinstance(value, str):
        raise BadRecord(f"{key} is not a string")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRecord("not an integer")
    return value


def _num(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRecord("not a number")
    return float(value)


def _turn(out: Replayed, ev: dict[str, Any]) -> Turn:
    side = ev.get("side")
    if side not in SIDES:
        raise BadRecord("no such side")
    turns = out.transcripts[side].turns
    index = _int(ev.get("turn"))
    if not 0 <= index < len(turns):
        raise BadRecord("no such turn")
    return turns[index]


def _apply(out: Replayed, ev: dict[str, Any]) -> None:
    """Apply one record, all or nothing: every field is read before anything changes.

    Raises:
        BadRecord, KeyError, TypeError, ValueError: the record is unusable.
    """
    kind = ev.get("type")
    if kind == "user":
        text, mode = _str(ev, "text"), ev.get("mode", "chat")
        if mode not in ("chat", "document"):
            raise BadRecord("unknown mode")
        for s in SIDES:
            out.transcripts[s].turns.append(Turn(user=text, mode=mode, template=""))
    elif kind == "clear":
        for s in SIDES:
            out.transcripts[s].turns.clear()
    elif kind == "drop_last":
        for s in SIDES:
            if out.transcripts[s].turns:
                out.transcripts[s].turns.pop()
    elif kind in _PER_SIDE:
        _apply_side(_turn(out, ev), kind, ev)
    # any other type is a record from a newer playground: not damage, nothing to do


def _apply_side(turn: Turn, kind: str, ev: dict[str, Any]) -> None:
    if kind == "prompt":
        template, text = _str(ev, "template"), _str(ev, "text")
        prompt = [
            PromptToken(_int(i), bytes.fromhex(p), TokenKind(k), bool(sp))
            for i, p, k, sp in ev.get("tokens", [])
        ]
        turn.template, turn.prompt_text, turn.prompt = template, text, prompt
    elif kind == "tokens":
        records = ev["tokens"]
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise BadRecord("tokens is not a list of objects")
        turn.events.extend([token_from_record(r) for r in records])
    elif kind == "finish":
        finished = Finished(
            reason=StopReason(ev["reason"]),
            tokens=_int(ev["tokens"]),
            elapsed_s=_num(ev["elapsed_s"]),
            text="".join(e.text for e in turn.events),
            prompt_tokens=_int(ev["prompt_tokens"]),
            reused_tokens=_int(ev["reused_tokens"]),
        )
        turn.reason, turn.finished = finished.reason.value, finished
    elif kind == "error":
        turn.error, turn.reason = _str(ev, "message"), "error"
    elif "views" in ev:
        turn.other = [view_from_record(v) for v in ev["views"]]
    else:  # a file from before views were saved: ranks and classes only
        turn.other = [
            OtherView(_int(r), None, (), c if isinstance(c, str) else None)
            if r is not None
            else None
            for r, c in zip(ev["ranks"], ev["classes"], strict=False)
        ]


def replay(path: Path) -> Replayed:
    """Every turn as it was saved; a reply cut off by a kill comes back marked stopped.

    Raises:
        OSError: the file cannot be read at all (damaged lines are skipped and counted).
    """
    log = read_log(path)
    out = Replayed(skipped=log.skipped)
    for ev in log.events:
        try:
            _apply(out, ev)
        except (BadRecord, KeyError, TypeError, ValueError, IndexError, ArithmeticError):
            out.skipped += 1
    for tr in out.transcripts.values():
        for turn in tr.turns:
            if turn.reason is None:
                turn.reason = "cancelled"  # cut off by a kill: shown as stopped
    return out
