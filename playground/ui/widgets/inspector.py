"""The token inspector: one token's alternatives under both models, and what the sampler did.

Each alternative is a way to fork: a click on it puts that token at this position and lets
the model go on (the app does it; the inspector only says which entry was clicked).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.console import Group
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import Static

from playground.engine.backend import Capabilities
from playground.engine.trace import SampleTrace
from playground.engine.types import TokenEvent, TokenKind
from playground.engine.vocab import Vocab
from playground.session.turns import ForcedToken, OtherView
from playground.ui.widgets.token_render import CLASS_STYLE, visible_piece


def piece_label(piece: bytes, token: int | None, vocab: Vocab | None) -> str:
    """A top-k entry as the panes show it: byte tokens and control bytes as <0xNN>."""
    kind = TokenKind.NORMAL
    if vocab is not None and token is not None and 0 <= token < vocab.size:
        kind = vocab.kind(token)
    return visible_piece(piece, kind).replace("\n", "")


def _token_name(token: int, vocab: Vocab | None) -> str:
    if vocab is None or not 0 <= token < vocab.size:
        return f"id {token}"
    return piece_label(vocab.pieces[token], token, vocab)


def _delta(delta: float) -> str:
    return "-inf (banned)" if delta == -math.inf else f"{delta:+.2f}"


def describe_trace(
    trace: Any, vocab: Vocab | None = None, capabilities: Capabilities | None = None
) -> Text:
    """What the sampler chain and the tricks did to this token, in a line or two.

    Args:
        capabilities: the producing backend's; one that keeps no trace says why.
    """
    if trace is None:
        why_not = capabilities.why_not("sampler_trace") if capabilities is not None else None
        if why_not is not None:
            return Text(f"sampler: not recorded on this backend: {why_not}", "dim")
        return Text("sampler: no trace recorded for this token", "dim")
    if not isinstance(trace, SampleTrace):
        return Text(f"sampler: {trace}", "dim")
    out = Text()
    out.append("sampler ", "bold")
    out.append(f"[{trace.settings.describe()}] ", "dim")
    out.append(f"p {trace.prob_before:.3f} → {trace.prob_after:.3f} after the chain")
    if trace.candidates:
        out.append(f" ({trace.candidates} candidates)", "dim")
    if trace.moves:
        moved = ", ".join(f"{m.name} {_delta(m.delta)}" for m in trace.moves)
        out.append(f"; moved by {moved}", "bold yellow")
    else:
        out.append("; no trick moved it", "dim")
    big = trace.biggest
    if big is not None and big not in trace.moves:
        # The EOS tricks move every end-of-generation id alike; the trace names one of them.
        target = (
            "every end-of-generation token"
            if big.name in ("ban eos", "eos boost")
            else repr(_token_name(big.token, vocab))
        )
        out.append(f"; this step {big.name} moved {target} {_delta(big.delta)}", "yellow")
    for note in trace.notes:
        out.append(f"; {note}", "italic dim")
    return out


def _rows(
    entries: Sequence[tuple[int | None, bytes, float]], vocab: Vocab | None, mine: bool
) -> list[Text]:
    """One line per alternative; each carries which entry it is, for a click to fork with."""
    return [
        Text(
            f"{n + 1}. {piece_label(piece, tok, vocab)!r} {math.exp(lp):.3f}",
            style=Style(meta={"fork": (mine, tok)}) if tok is not None else "",
        )
        for n, (tok, piece, lp) in enumerate(entries)
    ]


def describe_forced(forced: ForcedToken, ev: TokenEvent) -> Text:
    """A forced token: who chose it, and what the model thought of it before."""
    out = Text()
    how = {"pick": "picked", "typed": "typed", "swap": "swapped in"}.get(forced.source, "")
    out.append(f"forced ({how or forced.source}", "bold cyan")
    if forced.from_side:
        out.append(f" from the {forced.from_side} model", "bold cyan")
    out.append(f"): p before forcing {ev.prob:.3f}", "bold cyan")
    rank = next((n + 1 for n, t in enumerate(ev.top) if t.id == ev.id), None)
    out.append(f", rank {rank} of the top-{len(ev.top)}" if rank else ", not in the top-k")
    if forced.note:
        out.append(f"; {forced.note}", "italic")
    return out


class TokenInspector(Static):
    """Shows the selected token; empty until one is selected."""

    DEFAULT_CSS = """
    TokenInspector { height: auto; max-height: 10; border-top: solid $primary-darken-2;
                     padding: 0 1; }
    TokenInspector.-token { height: 10; }
    TokenInspector.-token.-compact { height: 8; }
    """
    # Showing a token fixes the height (the classes above): moving from token to token then
    # repaints the inspector without a layout pass of the whole screen. A short terminal
    # gets the top 3 instead of the top 5, so the panes keep room to read.

    COMPACT_BELOW_ROWS = 30

    class Picked(Message):
        """An alternative was clicked: fork with it."""

        def __init__(self, mine: bool, token: int) -> None:
            super().__init__()
            self.mine = mine
            """True: from this model's top-k; False: from the other model's."""
            self.token = token

    def show_token(
        self,
        side: str,
        other_side: str,
        ev: TokenEvent,
        other: OtherView | None,
        *,
        vocab: Vocab | None = None,
        other_vocab: Vocab | None = None,
        capabilities: Capabilities | None = None,
        forced: ForcedToken | None = None,
    ) -> None:
        """Show one reply token.

        Args:
            vocab: the producing model's vocabulary (token kinds, names of moved tokens).
            other_vocab: the other model's, for its top-k list.
            capabilities: the producing model's backend's, for what it cannot show.
            forced: set when the user chose this token (a fork or a swap).
        """
        head = Text()
        head.append(f"{side} token #{ev.index} ", "bold")
        head.append(f"{visible_piece(ev.piece, ev.kind)!r}", "reverse")
        if forced is None:
            after = (
                "not known (the server sent its top-k before the sampler, which does not "
                "decide it with these settings)"
                if math.isnan(ev.prob_after)
                else f"{ev.prob_after:.3f}"
            )
            head.append(f" id {ev.id} {ev.kind.value}  p={ev.prob:.3f}  after sampler={after}")
        else:
            head.append(f" id {ev.id} {ev.kind.value}  FORCED  p before={ev.prob:.3f}")
        if other is not None and other.rank is not None and other.logprob is not None:
            cls = other.shift_class or "?"
            head.append(
                f"  | {other_side}: rank {other.rank_text} p={math.exp(other.logprob):.3f} "
            )
            head.append(cls, CLASS_STYLE.get(cls, ""))
            if other.approximate:
                head.append(" (approx.)", "italic")
        compact = self.app.size.height < self.COMPACT_BELOW_ROWS
        k = 3 if compact else 5
        table = Table.grid(padding=(0, 2))
        table.add_column()
        table.add_column()
        table.add_row(Text(f"top-{k} {side}", "bold"), Text(f"top-{k} {other_side}", "bold"))
        mine = _rows([(t.id, t.piece, t.logprob) for t in ev.top[:k]], vocab, True)
        if other is not None:
            ids: Sequence[int | None] = other.top_ids or [None] * len(other.top)
            theirs = _rows(
                [(i, p, lp) for i, (p, lp) in zip(ids, other.top[:k], strict=False)],
                other_vocab,
                False,
            )
        else:
            theirs = [Text("(not scored yet)")]
        for n in range(max(len(mine), len(theirs))):
            table.add_row(mine[n] if n < len(mine) else "", theirs[n] if n < len(theirs) else "")
        fixed = self.has_class("-token") and self.has_class("-compact") == compact
        self.add_class("-token")
        self.set_class(compact, "-compact")
        last = (
            describe_trace(ev.trace, vocab, capabilities)
            if forced is None
            else describe_forced(forced, ev)
        )
        self.update(Group(head, table, last), layout=not fixed)

    def on_click(self, event: events.Click) -> None:
        picked = event.style.meta.get("fork")
        if isinstance(picked, tuple) and len(picked) == 2:
            mine, token = picked
            self.post_message(self.Picked(bool(mine), int(token)))

    def clear_token(self) -> None:
        self.remove_class("-token")
        self.update(
            Text(
                "Select a token: Tab to a pane, then ←/→, or click it. "
                "f forks there, s swaps in the other model's token.",
                "dim",
            )
        )
