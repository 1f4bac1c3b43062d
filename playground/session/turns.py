"""What a turn is: one user message and one side's reply to it, with the reply's token data.

Turns are the nodes of the conversation tree (`playground.session.tree`): each knows its
parent turn on the same side, and a turn's siblings are the other replies to the same point
of the conversation (regenerations, forks, edited messages). Plain data, no Textual, so the
store can rebuild it from a file and the tests can inspect it without reading the screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from playground.engine.types import Finished, TokenEvent
from playground.templates.prompt import PromptToken

SIDES = ("base", "aligned")
OTHER = {"base": "aligned", "aligned": "base"}


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
    rank_exact: bool = True
    """False when the scorer's backend only knew its top-k: the rank is then k + 1, a lower
    bound, shown as ">k"."""

    @property
    def rank_text(self) -> str:
        """The rank as shown: "3", ">20" for a bound, "?" when not scored."""
        if self.rank is None:
            return "?"
        return str(self.rank) if self.rank_exact else f">{self.rank - 1}"


@dataclass(frozen=True, slots=True)
class ForcedToken:
    """A reply token the user chose instead of the model: a fork or a swap.

    The token's event keeps the model's own view of that position: its `logprob` is the
    probability the model gave the token before it was forced, its `top` the model's top-k.
    """

    source: str
    """"pick" (an alternative from a top-k list), "typed" (text the user typed) or "swap"
    (the other model's token at this position)."""
    from_side: str | None = None
    """For a swap: the side whose token was handed over."""
    note: str = ""
    """What the user should know, e.g. that the other model's text was re-tokenized."""


@dataclass(frozen=True, slots=True)
class ForkOrigin:
    """Where a forked reply came from: the first `at` tokens are `node`'s."""

    node: int
    at: int


@dataclass(eq=False)
class Turn:
    """One user message and this side's reply to it: one node of the conversation tree."""

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
    stop: tuple[str, ...] = ()
    """The strings that end this reply (the user's and, where chosen, the template's): a
    fork of it ends at the same ones."""
    """Whether special-token text in the message was parsed as special tokens."""
    analysis: Any = None
    """The full ShiftAnalysis of this reply under the other model, kept for the HTML report."""
    id: int = 0
    """Unique in the conversation (across both sides); records in the store name it."""
    side: str = ""
    parent: int | None = None
    """The turn before this one on the same side, None for a first turn."""
    exchange: int = 0
    """Shared by the two turns one message started (one per side)."""
    forced: dict[int, ForcedToken] = field(default_factory=dict)
    """Reply positions the user chose, by token index."""
    fork: ForkOrigin | None = None

    @property
    def reply_text(self) -> str:
        if self.finished is not None:
            return self.finished.text
        return "".join(e.text for e in self.events)

    @property
    def running(self) -> bool:
        return self.reason is None


@dataclass(frozen=True, slots=True)
class BranchPlace:
    """Where a turn sits among its siblings, as the pane shows it: "branch 2/3"."""

    index: int
    """From 0."""
    count: int


@dataclass
class SideTranscript:
    """The turns of one side on screen: one branch of the conversation tree."""

    side: str
    turns: list[Turn] = field(default_factory=list)
    places: dict[int, BranchPlace] = field(default_factory=dict)
    """Turn id -> its place among its siblings (only turns that have siblings matter)."""

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
