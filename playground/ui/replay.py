"""Rebuild both transcripts from a conversation file (resume after a restart or a kill)."""

from __future__ import annotations

from pathlib import Path

from playground.engine.types import Finished, StopReason, TokenKind
from playground.session.turns import SIDES, OtherView, PromptToken, SideTranscript, Turn
from playground.ui.conversation_store import read_events, token_from_record, view_from_record


def replay(path: Path) -> dict[str, SideTranscript]:
    """Every turn as it was saved; a reply cut off by a kill comes back marked 'interrupted'."""
    out = {s: SideTranscript(s) for s in SIDES}
    for ev in read_events(path):
        kind = ev.get("type")
        if kind == "user":
            for s in SIDES:
                out[s].turns.append(Turn(user=ev["text"], mode=ev.get("mode", "chat"), template=""))
        elif kind in ("clear",):
            for s in SIDES:
                out[s].turns.clear()
        elif kind == "drop_last":
            for s in SIDES:
                if out[s].turns:
                    out[s].turns.pop()
        elif kind in ("prompt", "tokens", "finish", "error", "scores"):
            turns = out[ev["side"]].turns
            turn = turns[ev["turn"]] if 0 <= ev["turn"] < len(turns) else None
            if turn is None:
                continue
            if kind == "prompt":
                turn.template = ev["template"]
                turn.prompt_text = ev["text"]
                turn.prompt = [
                    PromptToken(int(i), bytes.fromhex(p), TokenKind(k), bool(sp))
                    for i, p, k, sp in ev.get("tokens", [])
                ]
            elif kind == "tokens":
                turn.events.extend(token_from_record(r) for r in ev["tokens"])
            elif kind == "finish":
                turn.reason = ev["reason"]
                turn.finished = Finished(
                    reason=StopReason(ev["reason"]),
                    tokens=ev["tokens"],
                    elapsed_s=ev["elapsed_s"],
                    text="".join(e.text for e in turn.events),
                    prompt_tokens=ev["prompt_tokens"],
                    reused_tokens=ev["reused_tokens"],
                )
            elif kind == "error":
                turn.error = ev["message"]
                turn.reason = "error"
            elif "views" in ev:
                turn.other = [view_from_record(v) for v in ev["views"]]
            else:  # a file from before views were saved: ranks and classes only
                turn.other = [
                    OtherView(r, None, (), c) if r is not None else None
                    for r, c in zip(ev["ranks"], ev["classes"], strict=False)
                ]
    for tr in out.values():
        for turn in tr.turns:
            if turn.reason is None:
                turn.reason = "cancelled"  # cut off by a kill: shown as stopped
    return out
