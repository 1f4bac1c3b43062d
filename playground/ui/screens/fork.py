"""Fork here…: choose the token to put at the selected position, and the model goes on.

The choices are this model's top-k at that position, the other model's top-k there (handed
over by text when the vocabularies differ), the other model's actual token (a swap), or a
token typed by the user.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from playground.session.forking import handover_piece
from playground.session.turns import OTHER, Turn
from playground.ui.widgets.inspector import piece_label


@dataclass(frozen=True)
class ForkChoice:
    """One way to fork: the ids to force, and how the pane will mark them."""

    label: str
    ids: tuple[int, ...]
    source: str
    from_side: str | None = None
    note: str = ""


def fork_choices(
    turn: Turn, index: int, partner: Turn | None, models: Mapping[str, Any]
) -> list[ForkChoice]:
    """Every alternative the inspector shows for token `index` of `turn`, as fork choices."""
    side, other_side = turn.side, OTHER[turn.side]
    ev = turn.events[index]
    mine, theirs = models.get(side), models.get(other_side)
    vocab = mine.vocab if mine is not None else None
    out: list[ForkChoice] = []
    for rank, t in enumerate(ev.top, 1):
        if t.id != ev.id:
            label = piece_label(t.piece, t.id, vocab)
            out.append(ForkChoice(f"{side} #{rank}  {label!r}  p={t.prob:.3f}", (t.id,), "pick"))
    other = turn.other[index] if index < len(turn.other) else None
    if other is not None and mine is not None and theirs is not None:
        for rank, (tid, (piece, lp)) in enumerate(zip(other.top_ids, other.top, strict=False), 1):
            given = handover_piece(mine, theirs.vocab, tid, piece)
            if given.ids and given.ids != (ev.id,):
                label = piece_label(piece, tid, theirs.vocab)
                again = f"  (re-tokenized: {len(given.ids)})" if given.note else ""
                out.append(
                    ForkChoice(
                        f"{other_side} #{rank}  {label!r}  p={math.exp(lp):.3f}{again}",
                        given.ids,
                        "pick",
                        other_side,
                        given.note,
                    )
                )
    if (
        partner is not None
        and index < len(partner.events)
        and mine is not None
        and theirs is not None
    ):
        theirs_ev = partner.events[index]
        given = handover_piece(mine, theirs.vocab, theirs_ev.id, theirs_ev.piece)
        if given.ids:
            label = piece_label(theirs_ev.piece, theirs_ev.id, theirs.vocab)
            again = f"  (re-tokenized: {len(given.ids)})" if given.note else ""
            out.append(
                ForkChoice(
                    f"swap: the {other_side} reply's token here, {label!r}{again}",
                    given.ids,
                    "swap",
                    other_side,
                    given.note,
                )
            )
    return out


class ForkScreen(ModalScreen["ForkChoice | str | None"]):
    """Pick an alternative (Enter or a click) or type a token; Esc leaves the reply as is."""

    DEFAULT_CSS = """
    ForkScreen { align: center middle; }
    ForkScreen > Vertical { width: 80%; height: auto; max-height: 90%; border: round $accent;
                            background: $surface; padding: 0 1; }
    ForkScreen OptionList { height: auto; max-height: 14; }
    ForkScreen Label { width: 100%; margin-bottom: 1; }
    """
    BINDINGS = [Binding("escape", "dismiss", "Cancel")]

    def __init__(self, turn: Turn, index: int, choices: list[ForkChoice]) -> None:
        super().__init__()
        self.turn = turn
        self.index = index
        self.choices = choices

    def compose(self) -> ComposeResult:
        ev = self.turn.events[self.index]
        with Vertical():
            yield Label(
                f"Fork the {self.turn.side} reply at token #{self.index} "
                f"({piece_label(ev.piece, ev.id, None)!r}, p={ev.prob:.3f}): the reply is cut "
                "there, your token is forced, and the model goes on. The old reply stays as "
                "a branch ([ and ] in the pane)."
            )
            yield OptionList(
                *(Option(c.label, id=str(n)) for n, c in enumerate(self.choices)),
                id="fork-choices",
            )
            yield Input(placeholder="or type a token (its text) and press Enter", id="fork-typed")

    def on_mount(self) -> None:
        if self.choices:
            self.query_one(OptionList).focus()
        else:
            self.query_one(Input).focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[event.option_index])

    @on(Input.Submitted, "#fork-typed")
    def _typed(self, event: Input.Submitted) -> None:
        if event.value:
            self.dismiss(event.value)
