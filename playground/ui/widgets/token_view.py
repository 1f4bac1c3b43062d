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

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from playground.session.turns import BranchPlace, SideTranscript, Turn
from playground.ui.widgets.token_render import (
    CURSOR,
    View,
    append_tokens,
    is_special,
    render_footer,
    render_head,
    render_turn,
)
from playground.ui.widgets.wrap import wrap_offsets


def visible_in(turn: Turn, index: int, view: View) -> bool:
    """Whether token `index` draws at least one character in `view`."""
    if view != View.TEXT:
        return True
    event = turn.events[index]
    return not is_special(turn, event) and bool(event.text)


def _mark(line: Strip, start: int, end: int) -> Strip:
    """`line` with cells start:end in the cursor style; a token of no width (a newline)
    gets a ↵ where it ends the line."""
    if end <= start:
        mark = Strip([Segment("↵", CURSOR)], 1)
        return Strip.join([line.crop(0, start), mark, line.crop(start + 1, line.cell_length)])
    middle = Strip(Segment.apply_style(list(line.crop(start, end)), post_style=CURSOR))
    return Strip.join([line.crop(0, start), middle, line.crop(end, line.cell_length)])


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
        place: BranchPlace | None = None,
    ) -> TurnLines:
        state = cls(turn, key, width)
        text = render_head(turn, view, show_prompt, place)
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
        return self._line_of_offset(self.token_starts[index])

    def _line_of_offset(self, offset: int) -> int:
        return max(0, bisect_right(self.line_starts, offset) - 1)

    def token_cells(self, index: int) -> list[tuple[int, int, int]]:
        """Where token `index` is drawn: (line, first cell, end cell) on each of this
        turn's lines it covers (a long token can wrap; a newline token has no width)."""
        if not 0 <= index < len(self.token_starts):
            return []
        start = self.token_starts[index]
        text_end = self.line_starts[-1] + len(self.tail.plain)
        end = self.token_starts[index + 1] if index + 1 < len(self.token_starts) else text_end
        drawn = len(self.final) + len(self.tail_lines)
        spans: list[tuple[int, int, int]] = []
        first = self._line_of_offset(start)
        last = self._line_of_offset(max(start, end - 1))
        for line in range(first, min(last, drawn - 1) + 1):
            line_start = self.line_starts[line]
            strip = self.final[line] if line < len(self.final) else self.tail_lines[0]
            text = strip.text
            a = cell_len(text[: max(0, start - line_start)])
            b = cell_len(text[: max(0, end - line_start)])
            spans.append((line, a, b))
        return spans


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
        self._cursor_line = 0
        """The line that shows the selected token (found while the lines are collected)."""
        self._rows_laid = 0
        self._height_laid = 0
        """Rows and height at the last update: where "the end" was."""
        self._cursor_marks: dict[int, tuple[int, int]] = {}
        """Line -> cells (start, end) of the selected token on it."""
        self._overlaid: dict[int, Strip] = {}
        self._base_style: Style | None = None
        """The widget's own style under every line (computing it walks the ancestors, so
        it is kept until the styles or the lines change)."""

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
            place = self.transcript.places.get(turn.id)
            out.append_text(render_turn(turn, self.view, local, self.show_prompt, flat, place))
            out.append("\n")
            flat += n
        return out

    def update_lines(self) -> None:
        """Bring the lines up to date with the transcript; repaint only what changed."""
        width = self.scrollable_content_region.width
        if width <= 0:
            return
        # At the end as last laid out: a pane that just got shorter (the inspector
        # appeared) was following the reply and still is.
        at_end = self.scroll_offset.y >= self._rows_laid - self._height_laid
        old, old_marks = self._lines, self._cursor_marks
        self._collect(width)
        lines = self._lines
        first_changed = next(
            (i for i, (a, b) in enumerate(zip(old, lines, strict=False)) if a is not b),
            min(len(old), len(lines)),
        )
        self._place(width, follow=self.cursor < 0 and at_end)
        self.refresh_lines(first_changed, max(len(old), len(lines)) - first_changed)
        for y in {*old_marks, *self._cursor_marks}:
            if y < first_changed:
                self.refresh_lines(y)

    def _collect(self, width: int) -> None:
        """Each turn's lines, kept, extended or built again; then where the cursor is."""
        console = self.app.console
        kept: dict[int, TurnLines] = {}
        lines: list[Strip] = []
        flat = 0
        # the cursor's turn, its index there, the turn's first line, whether drawn over
        cursor_at: tuple[TurnLines, int, int, bool] | None = None
        for turn in self.transcript.turns:
            n = len(turn.events)
            local = self.cursor - flat if flat <= self.cursor < flat + n else -1
            # The cursor is drawn over the lines (see render_line), so moving it repaints a
            # line or two. Only a token that draws nothing (an end-of-turn token in the text
            # view, a byte of an unfinished character) is drawn into them, as a ▯.
            baked = local if local >= 0 and not visible_in(turn, local, self.view) else -1
            place = self.transcript.places.get(turn.id)
            # a reply cut by a stop string is drawn again once it ends (the cut shows)
            cut = turn.reason == "stop"
            key = (self.view, self.show_prompt, baked, flat, width, len(turn.other), place, cut)
            state = self._turns.get(id(turn))
            if state is None or state.turn is not turn or state.key != key or state.n > n:
                state = TurnLines.build(
                    turn, key, self.view, self.show_prompt, baked, flat, width, console, place
                )
            elif state.n < n:
                state.extend(self.view, baked, flat, console)
            state.set_footer(turn, console)
            kept[id(turn)] = state
            if local >= 0:
                cursor_at = (state, local, len(lines), baked < 0)
            lines.extend(state.lines())
            flat += n
        self._turns = kept
        self._lines = lines
        self._cursor_marks = {}
        self._cursor_line = 0
        if cursor_at is not None:
            state, local, first_line, over = cursor_at
            self._cursor_line = first_line + state.line_of_token(local)
            if over:
                for line, a, b in state.token_cells(local):
                    self._cursor_marks[first_line + line] = (a, b)
        self._overlaid.clear()
        self._base_style = None

    def _place(self, width: int, *, follow: bool) -> None:
        """Set the scroll range and position: the cursor's line in view, or the end of a
        reply being followed."""
        height = self.scrollable_content_region.height
        last = self.transcript.last
        streaming = last is not None and last.reason is None
        rows = len(self._lines)
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
            self._show_line(self._cursor_line)
        elif follow and top != self.scroll_offset.y:
            self.scroll_to(y=top, animate=False)
        self._rows_laid, self._height_laid = rows, height

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

    def notify_style_update(self) -> None:
        self._base_style = None
        super().notify_style_update()

    def on_resize(self) -> None:
        # a new width wraps every turn again; a new height only moves the scroll range
        self.update_lines()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        style = self._base_style
        if style is None:
            style = self._base_style = self.rich_style
        index = scroll_y + y
        if index >= len(self._lines):
            return Strip.blank(width, style)
        line = self._lines[index]
        mark = self._cursor_marks.get(index)
        if mark is not None:
            marked = self._overlaid.get(index)
            if marked is None:
                marked = self._overlaid[index] = _mark(line, *mark)
            line = marked
        return line.crop_extend(scroll_x, scroll_x + width, None).apply_style(style)

    def refresh_lines(self, y_start: int, line_count: int = 1) -> None:
        if line_count > 0:
            top = y_start - self.scroll_offset.y
            self.refresh(Region(0, max(0, top), self.size.width, line_count + min(0, top)))
