"""What each pane holds: the turns of one side of the conversation, with their token data.

Plain data (no Textual), so the conversation store can rebuild it from a file and the tests
can inspect it without reading the screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from playground.engine.types import Finished, TokenEvent
from playground.templates.prompt import PromptToken

SIDES = ("base", "aligned")

__all__ = ["SIDES", "OtherView", "PromptToken", "SideTranscript", "Turn"]


@dataclass(frozen=True, slots=True)
class OtherView:
    """How the other model saw one token of this reply (from teacher-forced scoring)."""

    rank: int | None
    logprob: float | None
    top: tuple[tuple[bytes, float], ...]
    shift_class: str | None
    """unshifted / marginal / shifted (URIAL's thresholds), or None where not comparable."""
    approximate: bool = False
    top_ids: tuple[int, ...] = ()
    """The ids of `top` in the scorer's vocabulary, so a byte token shows as <0xNN>."""


@dataclass
class Turn:
    """One user message and this side's reply to it."""

    user: str
    mode: str
    """"chat" or "document"."""
    template: str
    prompt: list[PromptToken] = field(default_factory=list)
    prompt_text: str = ""
    events: list[TokenEvent] = field(default_factory=list)
    finished: Finished | None = None
    reason: str | None = None
    """Why it stopped, as shown: eog, max_tokens, stopped, error..."""
    error: str | None = None
    other: list[OtherView | None] = field(default_factory=list)
    settings: Any = None
    prompt_settings: Any = None
    """The PromptSettings this turn was built with (template, system prompt, stops)."""
    markers: frozenset[int] = frozenset()
    """Ids of the template's marker tokens: drawn as special even when user-defined."""
    user_specials: bool = False
    """Whether special-token text in the message was parsed as special tokens."""
    analysis: Any = None
    """The full ShiftAnalysis of this reply under the other model, kept for the HTML report."""

    @property
    def reply_text(self) -> str:
        if self.finished is not None:
            return self.finished.text
        return "".join(e.text for e in self.events)

    @property
    def running(self) -> bool:
        return self.reason is None


@dataclass
class SideTranscript:
    """All turns of one side."""

    side: str
    turns: list[Turn] = field(default_factory=list)
    prompt_settings: Any = None
    """The PromptSettings this side last used or was set to (restored on resume)."""
    sampler_settings: Any = None
    """The SamplerSettings this side last used or was set to (restored on resume)."""

    @property
    def last(self) -> Turn | None:
        return self.turns[-1] if self.turns else None

    def history(self) -> list[dict[str, str]]:
        """Chat messages of the finished turns, with this side's own replies."""
        messages: list[dict[str, str]] = []
        for turn in self.turns:
            if turn.mode != "chat" or turn.error is not None:
                continue
            messages.append({"role": "user", "content": turn.user})
            messages.append({"role": "assistant", "content": turn.reply_text})
        return messages

    def document(self) -> str:
        """The document a new document-mode message extends: the last turn's prompt and
        reply if it was a document turn; empty after a chat turn, an error or a clear."""
        last = self.last
        if last is None or last.mode != "document" or last.error is not None:
            return ""
        return last.prompt_text + last.reply_text

    def token_positions(self) -> list[tuple[int, int]]:
        """(turn index, token index) of every selectable reply token, in order."""
        return [(t, i) for t, turn in enumerate(self.turns) for i in range(len(turn.events))]
