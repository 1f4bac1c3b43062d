"""Shared bits for the session core's tests: records kept in memory as the file holds them,
and reply tokens made by hand (no model)."""

from __future__ import annotations

import json
from typing import Any

from playground.engine.types import Finished, StopReason, TokenEvent, TokenKind, TopEntry
from playground.session.records import token_record
from playground.session.tree import ConversationTree
from playground.session.turns import SIDES


class MemoryStore:
    """An Appender that keeps each record as the JSON line the file would hold."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def append(self, kind: str, **payload: Any) -> None:
        self.lines.append(json.dumps({"type": kind, **payload}, ensure_ascii=False))

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


def event(index: int, token: int, text: str, logprob: float = -0.25) -> TokenEvent:
    return TokenEvent(
        index=index,
        id=token,
        piece=text.encode(),
        kind=TokenKind.NORMAL,
        text=text,
        logprob=logprob,
        top=(TopEntry(token, text.encode(), logprob), TopEntry(token + 1, b"x", -3.0)),
        prob_after=0.75,
    )


def finished(n: int, reason: StopReason = StopReason.MAX_TOKENS, text: str = "") -> Finished:
    return Finished(
        reason=reason, tokens=n, elapsed_s=0.5, text=text, prompt_tokens=3, reused_tokens=0
    )


def snapshot(tree: ConversationTree) -> dict[str, Any]:
    """Everything a tree holds that a user could see, as plain values."""
    # a reply still running when the file ends comes back stopped
    turns = {}
    for tid, t in sorted(tree.turns.items()):
        turns[tid] = (
            t.side,
            t.parent,
            t.user,
            t.mode,
            t.exchange,
            (t.fork.node, t.fork.at) if t.fork else None,
            sorted((i, f.source, f.from_side, f.note) for i, f in t.forced.items()),
            [token_record(e) for e in t.events],
            t.reason or "cancelled",
            t.error,
            t.template,
            t.prompt_text,
            [(v.rank, v.shift_class) if v else None for v in t.other],
        )
    children = {
        f"{side}:{tid}": [c.id for c in tree.children(side, tid)]
        for side in SIDES
        for tid in [None, *tree.turns]
    }
    paths = {side: [t.id for t in tree.path(side)] for side in SIDES}
    return {"turns": turns, "children": children, "paths": paths}
