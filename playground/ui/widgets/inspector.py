"""The token inspector: one token's alternatives under both models, and what the sampler did."""

from __future__ import annotations

import math
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from playground.engine.types import TokenEvent, TokenKind
from playground.ui.transcript import OtherView
from playground.ui.widgets.token_render import CLASS_STYLE, visible_piece


def _piece(b: bytes) -> str:
    return visible_piece(b, TokenKind.NORMAL)


def describe_trace(trace: Any) -> str:
    """The sampler's trace in one line, whatever shape the sampling module gives it."""
    if trace is None:
        return "sampler: plain chain (no trace)"
    describe = getattr(trace, "describe", None)
    if callable(describe):
        return str(describe())
    fields = getattr(trace, "__dataclass_fields__", None)
    if fields is not None:
        return ", ".join(f"{k}={getattr(trace, k)!r}" for k in fields)
    if isinstance(trace, dict):
        return ", ".join(f"{k}={v!r}" for k, v in trace.items())
    return str(trace)


class TokenInspector(Static):
    """Shows the selected token; empty until one is selected."""

    DEFAULT_CSS = """
    TokenInspector { height: auto; max-height: 9; border-top: solid $primary-darken-2;
                     padding: 0 1; }
    """

    def show_token(
        self, side: str, other_side: str, ev: TokenEvent, other: OtherView | None
    ) -> None:
        head = Text()
        head.append(f"{side} token #{ev.index} ", "bold")
        head.append(f"{visible_piece(ev.piece, ev.kind)!r}", "reverse")
        head.append(
            f" id {ev.id} {ev.kind.value}  p={ev.prob:.3f}  after sampler={ev.prob_after:.3f}"
        )
        if other is not None and other.rank is not None and other.logprob is not None:
            cls = other.shift_class or "?"
            head.append(f"  | {other_side}: rank {other.rank} p={math.exp(other.logprob):.3f} ")
            head.append(cls, CLASS_STYLE.get(cls, ""))
            if other.approximate:
                head.append(" (approx.)", "italic")
        table = Table.grid(padding=(0, 2))
        table.add_column()
        table.add_column()
        table.add_row(Text(f"top-5 {side}", "bold"), Text(f"top-5 {other_side}", "bold"))
        mine = [f"{n + 1}. {_piece(t.piece)!r} {t.prob:.3f}" for n, t in enumerate(ev.top)]
        theirs = (
            [f"{n + 1}. {_piece(p)!r} {math.exp(lp):.3f}" for n, (p, lp) in enumerate(other.top)]
            if other is not None
            else ["(not scored yet)"]
        )
        for n in range(max(len(mine), len(theirs))):
            table.add_row(mine[n] if n < len(mine) else "", theirs[n] if n < len(theirs) else "")
        from rich.console import Group

        self.update(Group(head, table, Text(describe_trace(ev.trace), "dim")))

    def clear_token(self) -> None:
        self.update(Text("Select a token: Tab to a pane, then ←/→, or click it.", "dim"))
