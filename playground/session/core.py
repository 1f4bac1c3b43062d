"""The session: what a conversation is, without a screen.

It owns the conversation tree (every reply kept, one branch on screen per side), the turns
as their data arrives, and the conversation file: each change is recorded as it happens,
so replaying the file gives the same tree. The app turns key presses and worker messages
into calls here; the tests drive it directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from playground.engine.types import Finished, TokenEvent
from playground.session.records import finished_record, jsonable, token_record, view_record
from playground.session.store import (
    Appender,
    Replayer,
    node_record,
    prompt_tokens_record,
)
from playground.session.tree import ConversationTree
from playground.session.turns import (
    SIDES,
    ForcedToken,
    ForkOrigin,
    OtherView,
    PromptToken,
    SideTranscript,
    Turn,
)


class Session:
    """One conversation: the tree, the branch on screen, and the file it is saved in.

    Args:
        open_store: makes the conversation file on the first record (a new conversation
            writes no file until something happens in it).
    """

    def __init__(self, open_store: Callable[[], Appender] | None = None) -> None:
        self.tree = ConversationTree()
        self.transcripts: dict[str, SideTranscript] = {s: SideTranscript(s) for s in SIDES}
        """The branch on screen per side; the same objects for the whole session, updated
        in place (the panes hold them)."""
        self.mode = "chat"
        self.store: Appender | None = None
        self._open_store = open_store
        self._exchange = 0

    # ------------------------------------------------------------------ the file

    def record(self, kind: str, **payload: Any) -> None:
        if self.store is None:
            if self._open_store is None:
                return
            self.store = self._open_store()
        self.store.append(kind, **payload)

    def _show(self) -> None:
        for side in SIDES:
            self.tree.transcript_of(side, self.transcripts[side])

    def _add(self, turn: Turn) -> Turn:
        self.tree.add(turn)
        self.record("node", **node_record(turn))
        return turn

    def _new_turn(self, side: str, user: str, mode: str, parent: int | None) -> Turn:
        return Turn(
            user=user,
            mode=mode,
            template="",
            id=self.tree.new_id(),
            side=side,
            parent=parent,
            exchange=self._exchange,
        )

    # ------------------------------------------------------------------ the tree

    def send(self, text: str) -> dict[str, Turn]:
        """A new message: one new turn per side, after the branch on screen."""
        self._exchange += 1
        out = {
            side: self._add(self._new_turn(side, text, self.mode, self.tree.leaf(side)))
            for side in SIDES
        }
        self._show()
        return out

    def last_turns(self) -> dict[str, Turn]:
        return {s: t.last for s, t in self.transcripts.items() if t.last is not None}

    def regenerate(self) -> dict[str, Turn]:
        """Each side's last reply again, as a new sibling (the old one stays, a swipe away)."""
        lasts = self.last_turns()
        if not lasts:
            return {}
        self._exchange += 1
        out = {
            side: self._add(self._new_turn(side, last.user, last.mode, last.parent))
            for side, last in lasts.items()
        }
        self._show()
        return out

    def edit_last(self) -> str | None:
        """End the branch on screen before the last message (kept in the tree); returns the
        message so it can be edited and sent again as a sibling."""
        lasts = self.last_turns()
        if not lasts:
            return None
        for side, last in lasts.items():
            self._cut(side, last.parent)
        self._show()
        return next(iter(lasts.values())).user

    def clear(self) -> None:
        """Empty panes; the turns stay in the tree and the file."""
        for side in SIDES:
            if self.transcripts[side].turns:
                self._cut(side, None)
        self._show()

    def _cut(self, side: str, parent: int | None) -> None:
        self.tree.select(side, parent, None)
        self.record("select", side=side, parent=parent, node=None)

    def fork(
        self,
        turn: Turn,
        at: int,
        forced: Sequence[int],
        source: str,
        *,
        from_side: str | None = None,
        note: str = "",
    ) -> Turn:
        """A new sibling of `turn` that keeps its first `at` tokens; the caller streams the
        forced tokens and the continuation into it. Shown at once."""
        if not 0 <= at <= len(turn.events):
            raise ValueError(f"no token {at} in a reply of {len(turn.events)} tokens")
        if not forced:
            raise ValueError("a fork needs at least one token to force")
        new = self._new_turn(turn.side, turn.user, turn.mode, turn.parent)
        new.exchange = turn.exchange
        new.fork = ForkOrigin(turn.id, at)
        new.events.extend(turn.events[:at])
        marker = ForcedToken(source, from_side, note)
        new.forced = {at + n: marker for n in range(len(forced))}
        self._add(new)
        self._show()
        return new

    def swipe(self, turn: Turn, delta: int) -> Turn:
        """Show the sibling `delta` places from `turn`; the choices below it are kept."""
        shown = self.tree.swipe(turn, delta)
        if shown is not turn:
            self.record("select", side=turn.side, parent=turn.parent, node=shown.id)
            self._show()
        return shown

    def turn(self, node: int) -> Turn | None:
        return self.tree.get(node)

    # ------------------------------------------------------------------ turn data

    def set_prompt(
        self,
        turn: Turn,
        template: str,
        text: str,
        tokens: Sequence[PromptToken],
        settings: Any = None,
        warnings: Sequence[str] = (),
    ) -> None:
        turn.template = template
        turn.prompt = list(tokens)
        turn.prompt_text = text
        turn.settings = settings
        self.record(
            "prompt",
            node=turn.id,
            side=turn.side,
            template=template,
            text=text,
            ids=[t.id for t in tokens],
            tokens=prompt_tokens_record(tokens),
            settings=jsonable(settings),
            warnings=list(warnings),
        )

    def add_tokens(self, turn: Turn, events: Iterable[TokenEvent]) -> None:
        batch = list(events)
        turn.events.extend(batch)
        self.record("tokens", node=turn.id, side=turn.side, tokens=[token_record(e) for e in batch])

    def finish(self, turn: Turn, fin: Finished) -> None:
        turn.finished = fin
        turn.reason = fin.reason.value
        self.record("finish", node=turn.id, side=turn.side, **finished_record(fin))

    def fail(self, turn: Turn, message: str) -> None:
        turn.error = message
        turn.reason = "error"
        self.record("error", node=turn.id, side=turn.side, message=message)

    def cancelled(self, turn: Turn) -> None:
        """A stream stopped before it could say so (its worker was cancelled)."""
        if turn.reason is None:
            turn.reason = "cancelled"

    def set_scores(
        self, turn: Turn, views: Sequence[OtherView | None], analysis: Any = None
    ) -> None:
        turn.other = list(views)
        turn.analysis = analysis
        self.record(
            "scores",
            node=turn.id,
            side=turn.side,
            ranks=[v.rank if v else None for v in views],
            classes=[v.shift_class if v else None for v in views],
            views=[view_record(v) for v in views],
        )

    # ------------------------------------------------------------------ resume

    def resume(self, records: Iterable[Mapping[str, Any]], store: Appender | None) -> None:
        """Rebuild the tree and the branch on screen from saved records; new records go to
        `store` (the same file, appended to)."""
        replayer = Replayer()
        for ev in records:
            replayer.apply(ev)
        self.tree = replayer.finish()
        self._exchange = max((t.exchange for t in self.tree.turns.values()), default=0)
        self.store = store
        self._show()

    def forks(self) -> list[tuple[Turn, list[Turn]]]:
        return list(self.tree.forks())
