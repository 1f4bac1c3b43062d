"""The body of a pane: one side's turns as wrapped lines, drawn with Textual's line API.

A streaming frame costs the tokens that arrived, not the reply so far: each turn keeps its
wrapped lines, a finished turn is never wrapped again, and the streaming turn re-wraps only
its last line plus the new text (see `wrap.py`). The widget has a fixed size in the layout,
so new lines never need a layout pass of the screen; only the lines that changed are
repainted.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from rich.console import Console
from rich.text import Text
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from playground.ui.transcript import SideTranscript, Turn
from playground.ui.widgets.token_render import (
    View,
    append_tokens,
    render_footer,
    render_head,
    render_turn,
)
from playground.ui.widgets.wrap import wrap_offsets


def _strip(line: Text, console: Console) -> Strip:
    if line.plain.endswith("\n"):
        line.right_crop(1)
    return Strip(line.render(console, end=""))


@dataclass(eq=False)
class TurnLines:
    """One turn's wrapped lines at one width and one way of drawing it (the key).

    `extend` adds the tokens that arrived since; anything else that changes how the turn
    looks (the view, the selected token, the width, the other model's scores) changes the
    key, and the turn is wrapped again from scratch.
    """

    turn: Turn
    key: tuple[object, ...]
    width: int
    final: list[Strip] = field(default_factory=list)
    """Lines that new text can no longer change."""
    line_starts: list[int] = field(default_factory=list)
    """Offset in the turn's text where each line (final and tail) starts."""
    tail: Text = field(default_factory=Text)
    """The text of the last line on: re-wrapped when tokens arrive."""
    tail_lines: list[Strip] = field(default_factory=list)
    token_starts: list[int] = field(default_factory=list)
    n: int = 0
    """Tokens drawn so far."""
    footer_key: tuple[object, ...] = ()
    footer: list[Strip] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        turn: Turn,
        key: tuple[object, ...],
        view: View,
        show_prompt: bool,
        cursor: int,
        flat: int,
        width: int,
        console: Console,
    ) -> TurnLines:
        state = cls(turn, key, width)
        text = render_head(turn, view, show_prompt)
        state.line_starts = [0]
        state.tail = text
        state.extend(view, cursor, flat, console)
        return state

    def extend(self, view: View, cursor: int, flat: int, console: Console) -> None:
        """Draw the tokens that arrived since the last call and re-wrap the tail."""
        base = self.line_starts[-1]
        starts: list[int] = []
        append_tokens(self.tail, self.turn, view, self.n, cursor, flat, starts)
        self.token_starts.extend(base + s for s in starts)
        self.n = len(self.turn.events)
        offsets = wrap_offsets(self.tail.plain, self.width)
        lines = self.tail.divide(offsets[1:]) if len(offsets) > 1 else [self.tail]
        for line in list(lines)[:-1]:
            self.final.append(_strip(line, console))
        self.line_starts[-1:] = [base + o for o in offsets]
        self.tail = lines[-1]
        self.tail_lines = [_strip(self.tail.copy(), console)]

    def set_footer(self, turn: Turn, console: Console) -> None:
        key = (turn.reason, turn.error)
        if key == self.footer_key:
            return
        self.footer_key = key
        footer = render_footer(turn)
        lines: list[Strip] = []
        if footer:
            offsets = wrap_offsets(footer.plain, self.width)
            lines = [_strip(line, console) for line in footer.divide(offsets[1:])]
        # a finished reply ends its line; the next turn starts below it
        self.footer = lines

    def lines(self) -> list[Strip]:
        return [*self.final, *self.tail_lines, *self.footer]

    def line_of_token(self, index: int) -> int:
        """Which of this turn's lines shows token `index`."""
        if not 0 <= index < len(self.token_starts):
            return 0
        return max(0, bisect_right(self.line_starts, self.token_starts[index]) - 1)


class TokenView(ScrollView, can_focus=False):
    """Wrapped lines of one side's transcript; the owning pane says how to draw them."""

    DEFAULT_CSS = """
    TokenView { height: 1fr; overflow-y: scroll; overflow-x: hidden; scrollbar-size-vertical: 1; }
    """

    def __init__(self, transcript: SideTranscript, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.transcript = transcript
        self.view = View.TEXT
        self.cursor = -1
        self.show_prompt = True
        self._turns: dict[int, TurnLines] = {}
        self._lines: list[Strip] = []
        self._turn_first_line: list[int] = []
        self._width = 0

    # ------------------------------------------------------------------ content

    @property
    def lines(self) -> list[Strip]:
        """The wrapped lines, as drawn (before scrolling and the widget's own style)."""
        return self._lines

    def document(self) -> Text:
        """The whole transcript as one unwrapped Text, drawn the same way as on screen."""
        out = Text()
        flat = 0
        for turn in self.transcript.turns:
            n = len(turn.events)
            local = self.cursor - flat if flat <= self.cursor < flat + n else -1
            out.append_text(render_turn(turn, self.view, local, self.show_prompt, flat))
            out.append("\n")
            flat += n
        return out

    def update_lines(self) -> None:
        """Bring the lines up to date with the transcript; repaint only what changed."""
        width = self.scrollable_content_region.width
        if width <= 0:
            return
        console = self.app.console
        at_end = self.scroll_y >= self.max_scroll_y
        kept: dict[int, TurnLines] = {}
        lines: list[Strip] = []
        firsts: list[int] = []
        flat = 0
        for turn in self.transcript.turns:
            n = len(turn.events)
            local = self.cursor - flat if flat <= self.cursor < flat + n else -1
            key = (self.view, self.show_prompt, local, flat, width, len(turn.other))
            state = self._turns.get(id(turn))
            if state is None or state.turn is not turn or state.key != key or state.n > n:
                state = TurnLines.build(
                    turn, key, self.view, self.show_prompt, local, flat, width, console
                )
            elif state.n < n:
                state.extend(self.view, local, flat, console)
            state.set_footer(turn, console)
            kept[id(turn)] = state
            firsts.append(len(lines))
            lines.extend(state.lines())
            flat += n
        self._turns = kept
        old = self._lines
        self._lines = lines
        self._turn_first_line = firsts
        self._width = width
        first_changed = next(
            (i for i, (a, b) in enumerate(zip(old, lines, strict=False)) if a is not b),
            min(len(old), len(lines)),
        )
        height = self.scrollable_content_region.height
        follow = self.cursor < 0 and at_end
        last = self.transcript.last
        streaming = last is not None and last.reason is None
        rows = len(lines)
        top = self.scroll_offset.y
        if follow and not streaming:
            top = max(0, rows - height)
        elif follow and rows > top + height:
            # Scroll a third of the pane at a time: a scroll repaints the whole pane, a
            # line that grows in place repaints one line. The blank lines below the reply
            # exist only while it streams.
            top = rows - height + max(1, height // 3)
        if streaming:
            rows = max(rows, top + height)
        size = Size(width, rows)
        if size != self.virtual_size:
            # Not `self.virtual_size = size`: that asks for a layout pass of the whole
            # screen (about 20 ms here, and a full repaint), and this widget's own size
            # does not change. Only its scroll range and scrollbar do.
            self.set_reactive(TokenView.virtual_size, size)
            self._scroll_update(size)
        if self.cursor >= 0:
            self._show_line(self.line_of_cursor())
        elif follow and top != self.scroll_y:
            self.scroll_to(y=top, animate=False)
        self.refresh_lines(first_changed, max(len(old), len(lines)) - first_changed)

    def line_of_cursor(self) -> int:
        """The line that shows the selected token (0 with none)."""
        flat = 0
        for t, turn in enumerate(self.transcript.turns):
            n = len(turn.events)
            if flat <= self.cursor < flat + n:
                state = self._turns.get(id(turn))
                if state is None or t >= len(self._turn_first_line):
                    return 0
                return self._turn_first_line[t] + state.line_of_token(self.cursor - flat)
            flat += n
        return 0

    def _show_line(self, y: int) -> None:
        """Scroll so line `y` shows, with a line of context above and below it."""
        height = self.scrollable_content_region.height
        margin = 1 if height > 2 else 0
        top = self.scroll_offset.y
        if y - margin < top:
            self.scroll_to(y=max(0, y - margin), animate=False)
        elif y + margin >= top + height:
            last_top = max(0, len(self._lines) - height)
            self.scroll_to(y=min(last_top, y + margin - height + 1), animate=False)

    # ------------------------------------------------------------------ painting

    def on_resize(self) -> None:
        # a new width wraps every turn again; a new height only moves the scroll range
        self.update_lines()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        style = self.rich_style
        index = scroll_y + y
        if index >= len(self._lines):
            return Strip.blank(width, style)
        return self._lines[index].crop_extend(scroll_x, scroll_x + width, None).apply_style(style)

    def refresh_lines(self, y_start: int, line_count: int = 1) -> None:
        if line_count > 0:
            top = y_start - self.scroll_offset.y
            self.refresh(Region(0, max(0, top), self.size.width, line_count + min(0, top)))
