"""The conversation as a tree: every reply ever made is kept, one branch is on screen.

Each side has its own tree of turns. A turn's parent is the turn before it on the same side;
its siblings are the other replies to the same point: a regeneration, a fork at a token, an
edited message. Each parent remembers which child is on screen (its *active* child), so the
branch on screen is the chain of active children from the root, and moving between
siblings (SillyTavern's swipes) changes one link of that chain and keeps the choices below
it. An active child of None cuts the branch there: the next message starts a new sibling.

Plain data and no I/O: the session records every change in the store, and replaying the
records rebuilds the same tree.
"""

from __future__ import annotations

from collections.abc import Iterator

from playground.session.turns import SIDES, BranchPlace, SideTranscript, Turn

ROOT: None = None
"""The parent of a side's first turns."""


class ConversationTree:
    """Both sides' turns, their parent links, and the branch on screen."""

    def __init__(self) -> None:
        self.turns: dict[int, Turn] = {}
        self._children: dict[tuple[str, int | None], list[int]] = {}
        self._active: dict[tuple[str, int | None], int | None] = {}
        self.next_id = 1

    # ------------------------------------------------------------------ building

    def new_id(self) -> int:
        nid = self.next_id
        self.next_id += 1
        return nid

    def add(self, turn: Turn) -> Turn:
        """Put `turn` under its parent (turn.side, turn.parent) and show it."""
        if turn.id in self.turns:
            raise ValueError(f"turn {turn.id} is already in the tree")
        if turn.side not in SIDES:
            raise ValueError(f"unknown side {turn.side!r}")
        if turn.parent is not None and turn.parent not in self.turns:
            raise ValueError(f"turn {turn.id}: parent {turn.parent} is not in the tree")
        self.turns[turn.id] = turn
        self.next_id = max(self.next_id, turn.id + 1)
        key = (turn.side, turn.parent)
        self._children.setdefault(key, []).append(turn.id)
        self._active[key] = turn.id
        return turn

    def select(self, side: str, parent: int | None, child: int | None) -> None:
        """Show `child` under `parent` (None: the branch ends at `parent`)."""
        key = (side, parent)
        if child is not None and child not in self._children.get(key, ()):
            raise ValueError(f"turn {child} is not a child of {parent} on the {side} side")
        self._active[key] = child

    # ------------------------------------------------------------------ reading

    def get(self, node: int) -> Turn | None:
        return self.turns.get(node)

    def children(self, side: str, parent: int | None) -> list[Turn]:
        return [self.turns[i] for i in self._children.get((side, parent), ())]

    def active_child(self, side: str, parent: int | None) -> int | None:
        return self._active.get((side, parent))

    def siblings(self, turn: Turn) -> list[Turn]:
        """The replies to the same point, `turn` included, oldest first."""
        return self.children(turn.side, turn.parent)

    def place(self, turn: Turn) -> BranchPlace:
        ids = self._children.get((turn.side, turn.parent), [turn.id])
        return BranchPlace(ids.index(turn.id), len(ids))

    def path(self, side: str) -> list[Turn]:
        """The branch on screen: the active child of each turn, from the root."""
        out: list[Turn] = []
        node = self._active.get((side, ROOT))
        while node is not None:
            out.append(self.turns[node])
            node = self._active.get((side, node))
        return out

    def leaf(self, side: str) -> int | None:
        """The last turn on screen, the parent of the next one (None: a new conversation)."""
        path = self.path(side)
        return path[-1].id if path else ROOT

    def forks(self) -> Iterator[tuple[Turn, list[Turn]]]:
        """Every point with more than one reply: (the turn on screen or the first, siblings)."""
        for (side, parent), ids in self._children.items():
            if len(ids) > 1:
                shown = self._active.get((side, parent))
                first = self.turns[shown if shown is not None else ids[0]]
                yield first, [self.turns[i] for i in ids]

    def before(self, turn: Turn) -> SideTranscript:
        """The turns `turn` follows (its ancestors, oldest first): the conversation its
        prompt is built from."""
        chain: list[Turn] = []
        parent = turn.parent
        while parent is not None:
            chain.append(self.turns[parent])
            parent = self.turns[parent].parent
        return SideTranscript(turn.side, chain[::-1])

    def depth(self, turn: Turn) -> int:
        n = 0
        parent = turn.parent
        while parent is not None:
            n += 1
            parent = self.turns[parent].parent
        return n

    def on_screen(self, turn: Turn) -> bool:
        return any(t is turn for t in self.path(turn.side))

    def partner(self, turn: Turn) -> Turn | None:
        """The other side's turn at the same depth of its branch on screen: the reply this
        one is compared with and scored against."""
        other = "aligned" if turn.side == "base" else "base"
        path = self.path(other)
        d = self.depth(turn)
        return path[d] if d < len(path) else None

    # ------------------------------------------------------------------ moving

    def swipe(self, turn: Turn, delta: int) -> Turn:
        """Show the sibling `delta` places from `turn` (wrapping); returns the one shown."""
        ids = self._children[(turn.side, turn.parent)]
        new = ids[(ids.index(turn.id) + delta) % len(ids)]
        self._active[(turn.side, turn.parent)] = new
        return self.turns[new]

    def cut(self, side: str, depth: int) -> tuple[int | None, int | None] | None:
        """End the branch on screen before its turn at `depth` (which stays in the tree).

        Returns (parent, None) as recorded, or None when the branch is already shorter.
        """
        path = self.path(side)
        if depth >= len(path):
            return None
        parent = path[depth - 1].id if depth > 0 else ROOT
        self._active[(side, parent)] = None
        return parent, None

    def transcript_of(self, side: str, into: SideTranscript | None = None) -> SideTranscript:
        """The branch on screen as a SideTranscript (updated in place when given)."""
        out = into if into is not None else SideTranscript(side)
        out.turns[:] = self.path(side)
        out.places = {t.id: self.place(t) for t in out.turns}
        return out
