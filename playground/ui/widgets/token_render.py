"""Rich Text for the three pane views: text, raw token stream, probability.

Every reply token's span carries `meta={"tok": n}` so a mouse click finds the token under
the pointer. Special tokens get their own style in the raw view and are never hidden.
"""

from __future__ import annotations

from enum import StrEnum

from rich.style import Style
from rich.text import Text

from playground.engine.types import TokenKind
from playground.engine.utf8 import hex_escape
from playground.ui.transcript import SideTranscript, Turn


class View(StrEnum):
    TEXT = "text"
    RAW = "raw"
    PROB = "prob"

    def next(self) -> View:
        order = list(View)
        return order[(order.index(self) + 1) % len(order)]


SPECIAL = Style(color="black", bgcolor="magenta", bold=True)
SPECIAL_PROMPT = Style(color="magenta", bold=True, dim=True)
PROMPT = Style(dim=True)
ALT_BG = (Style(bgcolor="grey23"), Style(bgcolor="grey35"))
CURSOR = Style(reverse=True, underline=True)
USER = Style(color="cyan", bold=True)
NOTE = Style(color="yellow", italic=True)
ERROR = Style(color="red", bold=True)

CLASS_STYLE = {
    "unshifted": Style(color="green"),
    "marginal": Style(color="black", bgcolor="yellow"),
    "shifted": Style(color="white", bgcolor="red", bold=True),
}


# As in the templates' token view: whitespace gets a mark, any other control character is
# shown as its byte. Newlines also keep the line break so the raw view still reads as lines.
_VISIBLE = str.maketrans(
    {
        **{chr(c): f"<0x{c:02X}>" for c in (*range(0x20), 0x7F)},
        " ": "·",
        "\t": "→",
        "\r": "␍",
        "\n": "↵\n",
    }
)


def visible_piece(piece: bytes, kind: TokenKind) -> str:
    """A token piece with nothing invisible: spaces `·`, tabs `→`, newlines `↵`, byte
    tokens, control characters and bytes that are not UTF-8 as `<0xNN>`."""
    if kind == TokenKind.BYTE:
        return "".join(f"<0x{b:02X}>" for b in piece)
    return hex_escape(piece).translate(_VISIBLE)


def prob_style(p: float) -> Style:
    """Green for confident tokens through red for unlikely ones."""
    if p >= 0.9:
        return Style(color="green")
    if p >= 0.5:
        return Style(color="chartreuse3")
    if p >= 0.2:
        return Style(color="black", bgcolor="orange3")
    return Style(color="white", bgcolor="red3")


def _turn_header(text: Text, turn: Turn) -> None:
    label = "doc" if turn.mode == "document" else "you"
    first = turn.user.splitlines()[0] if turn.user else ""
    if len(first) > 60:
        first = first[:57] + "..."
    text.append(f"› {label}: {first}\n", USER)


def _turn_footer(text: Text, turn: Turn) -> None:
    if turn.error is not None:
        text.append(f"\n⚠ {turn.error}\n", ERROR)
    elif turn.reason == "cancelled":
        text.append("  [stopped]\n", NOTE)
    elif turn.reason is not None:
        text.append("\n")


TurnCache = dict[int, tuple[tuple[object, ...], Text]]


def render_transcript(
    tr: SideTranscript,
    view: View,
    cursor: int,
    show_prompt: bool,
    cache: TurnCache | None = None,
) -> Text:
    """The whole pane body for one side.

    Args:
        cursor: flat index of the selected reply token (-1 for none).
        show_prompt: in the raw view, also show the prompt's tokens (dimmer).
        cache: per-turn renders to reuse; only the turn that changed is rebuilt, so a long
            conversation costs the same per frame as a short one.
    """
    out = Text(no_wrap=False, overflow="fold")
    flat = 0
    for turn in tr.turns:
        n = len(turn.events)
        local = cursor - flat if flat <= cursor < flat + n else -1
        key = (view, local, show_prompt, n, turn.reason, turn.error, len(turn.other), flat)
        hit = cache.get(id(turn)) if cache is not None else None
        if hit is not None and hit[0] == key:
            part = hit[1]
        else:
            part = render_turn(turn, view, local, show_prompt, flat)
            if cache is not None:
                cache[id(turn)] = (key, part)
        out.append_text(part)
        flat += n
    return out


def render_turn(turn: Turn, view: View, cursor: int, show_prompt: bool, flat: int) -> Text:
    """One turn: the header (or the prompt's tokens in the raw view), the reply, the footer."""
    out = Text()
    if view == View.RAW and show_prompt and turn.prompt:
        for n, pt in enumerate(turn.prompt):
            style = SPECIAL_PROMPT if pt.special else PROMPT + ALT_BG[n % 2]
            out.append(visible_piece(pt.piece, pt.kind), style)
        out.append("\n")
    else:
        _turn_header(out, turn)
    for i, ev in enumerate(turn.events):
        meta = Style(meta={"tok": flat + i})
        if view == View.TEXT:
            piece = ev.text if not ev.special else ""
            style = meta
        elif view == View.RAW:
            piece = visible_piece(ev.piece, ev.kind)
            style = (SPECIAL if ev.special else ALT_BG[i % 2]) + meta
        else:
            other = turn.other[i] if i < len(turn.other) else None
            if other is not None and other.shift_class is not None:
                base = CLASS_STYLE[other.shift_class]
            else:
                base = prob_style(ev.prob)
            piece = visible_piece(ev.piece, ev.kind) if ev.special else (ev.text or "▯")
            style = base + meta
        if i == cursor:
            style = style + CURSOR
            piece = piece or "▯"
        if piece:
            out.append(piece, style)
    _turn_footer(out, turn)
    return out
