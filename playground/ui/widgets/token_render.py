"""Rich Text for the three pane views: text, raw token stream, probability.

Every reply token's span carries `meta={"tok": n}` so a mouse click finds the token under
the pointer. Special tokens get their own style in the raw view and are never hidden. A token
the user forced (a fork or a swap) is marked in every view; the raw view also prints the
probability the model gave it before it was forced. A turn with siblings says which branch
it is and how many there are.
"""

from __future__ import annotations

from enum import StrEnum

from rich.style import Style
from rich.text import Text

from playground.engine.types import TokenEvent, TokenKind
from playground.engine.utf8 import hex_escape
from playground.session.turns import BranchPlace, Turn


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
FORCED = Style(color="black", bgcolor="bright_cyan", underline=True)
FORCED_MARK = Style(underline=True, bold=True)
"""On top of the probability view's colour, which stays the token's own probability."""
BRANCH = Style(color="bright_cyan", bold=True)

INJECTION_NOTE = "[injection on: special-token text in the message became special tokens]"

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


_TEXT_SAFE = str.maketrans(
    {
        **{chr(c): f"<0x{c:02X}>" for c in (*range(0x20), 0x7F) if c not in (0x09, 0x0A)},
        "\t": "    ",
    }
)
"""The text view keeps newlines and shows the reply as written, but a control character
(an escape sequence, a carriage return) would reach the terminal: those show as bytes."""


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


def branch_label(turn: Turn, place: BranchPlace | None) -> str:
    """ "⑂ branch 2/3, forked at #4" for a turn with siblings; empty for the only one."""
    if place is None or place.count < 2:
        return ""
    label = f"⑂ branch {place.index + 1}/{place.count}"
    if turn.fork is not None:
        label += f", forked at #{turn.fork.at}"
    return label + "  [ ] switch"


def _turn_header(text: Text, turn: Turn, place: BranchPlace | None) -> None:
    label = "doc" if turn.mode == "document" else "you"
    first = turn.user.splitlines()[0] if turn.user.strip() else ""
    if turn.mode == "document" and not first:
        first = "(continue)"
    if len(first) > 60:
        first = first[:57] + "..."
    text.append(f"› {label}: {first.translate(_TEXT_SAFE)}", USER)
    branch = branch_label(turn, place)
    if branch:
        text.append(f"  {branch}", BRANCH)
    text.append("\n")


def is_special(turn: Turn, ev: TokenEvent) -> bool:
    """A control token, an end of generation, or one of the turn's template markers."""
    return ev.special or ev.id in turn.markers


def render_head(
    turn: Turn, view: View, show_prompt: bool, place: BranchPlace | None = None
) -> Text:
    """What comes before a reply: the prompt's tokens in the raw view, else a header line;
    then which branch this is, when the turn has siblings."""
    out = Text()
    if view == View.RAW and show_prompt and turn.prompt:
        if turn.user_specials:
            out.append(INJECTION_NOTE + "\n", NOTE)
        for n, pt in enumerate(turn.prompt):
            style = SPECIAL_PROMPT if pt.special else PROMPT + ALT_BG[n % 2]
            out.append(visible_piece(pt.piece, pt.kind), style)
        out.append("\n")
        branch = branch_label(turn, place)
        if branch:
            out.append(f"{branch}\n", BRANCH)
    else:
        _turn_header(out, turn, place)
    return out


def append_tokens(
    out: Text,
    turn: Turn,
    view: View,
    start: int,
    cursor: int,
    flat: int,
    starts: list[int] | None = None,
) -> None:
    """Append reply tokens `start:` of `turn` to `out`, each span tagged with its flat index.

    Args:
        cursor: index within this turn of the selected token (-1 for none).
        flat: flat index of this turn's first token (what a click reports).
        starts: if given, gets the offset in `out` where each token begins.
    """
    # A reply ended by a stop string: the text view ends before it, as the reply does.
    keep = len(turn.finished.text) if turn.finished and turn.reason == "stop" else None
    pos = sum(len(e.text) for e in turn.events[:start]) if keep is not None else 0
    for i in range(start, len(turn.events)):
        ev = turn.events[i]
        special = is_special(turn, ev)
        meta = Style(meta={"tok": flat + i})
        if view == View.TEXT:
            text = ev.text
            if keep is not None:
                text, pos = text[: max(0, keep - pos)], pos + len(ev.text)
            piece = text.translate(_TEXT_SAFE) if not special else ""
            style = meta if i not in turn.forced else FORCED + meta
        elif view == View.RAW:
            piece = visible_piece(ev.piece, ev.kind)
            style = (SPECIAL if special else ALT_BG[i % 2]) + meta
            if i in turn.forced:
                piece += f"⟨forced p={ev.prob:.3f}⟩"
                style = FORCED + meta
        else:
            other = turn.other[i] if i < len(turn.other) else None
            if other is not None and other.shift_class is not None:
                base = CLASS_STYLE[other.shift_class]
            else:
                base = prob_style(ev.prob)
            if special:
                piece = visible_piece(ev.piece, ev.kind)
            else:
                piece = ev.text.translate(_TEXT_SAFE) or "▯"
            style = base + meta if i not in turn.forced else base + FORCED_MARK + meta
        if i == cursor:
            style = style + CURSOR
            piece = piece or "▯"
        if starts is not None:
            starts.append(len(out))
        if piece:
            out.append(piece, style)


def render_footer(turn: Turn) -> Text:
    """Below a finished reply: its error, or [stopped]; empty while it streams."""
    out = Text()
    if turn.error is not None:
        out.append(f"\n⚠ {turn.error}", ERROR)
    elif turn.reason == "cancelled":
        out.append("[stopped]", NOTE)
    return out


def render_turn(
    turn: Turn,
    view: View,
    cursor: int,
    show_prompt: bool,
    flat: int,
    place: BranchPlace | None = None,
) -> Text:
    """One turn as one Text: the head, the reply, the footer on a line of its own."""
    out = render_head(turn, view, show_prompt, place)
    append_tokens(out, turn, view, 0, cursor, flat)
    footer = render_footer(turn)
    if footer:
        out.append("\n")
        out.append_text(footer)
    return out
