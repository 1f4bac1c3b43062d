"""One side of the comparison: title, the streaming reply in one of three views, status."""

from __future__ import annotations

import time

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label, Static

from playground.ui.transcript import SideTranscript
from playground.ui.widgets.token_render import TurnCache, View, render_transcript

MAX_FPS = 5
"""Streaming repaints per second per pane: fast models must not starve the keyboard."""


SLACK_LINES = 3
"""Blank lines below a streaming reply, so it can grow that much before a layout pass."""


def wrapped_height(plain: str, width: int) -> int:
    """Lines `plain` takes at `width` cells, estimated by characters: word wrapping can
    take a line more than this, which the slack lines absorb. 0 when not laid out yet."""
    if width <= 0:
        return 0
    return sum(max(1, -(-len(line) // width)) for line in plain.split("\n"))


class ModelPane(Widget, can_focus=True):
    """A pane that shows one side's transcript and lets the user pick a token."""

    DEFAULT_CSS = """
    ModelPane { height: 1fr; width: 1fr; border: round $primary-darken-2; }
    ModelPane:focus-within, ModelPane:focus { border: round $accent; }
    ModelPane > .pane-title { height: 1; width: 1fr; background: $boost; text-style: bold; }
    ModelPane > VerticalScroll { height: 1fr; }
    ModelPane > .pane-status { height: 1; width: 1fr; color: $text-muted; }
    """

    BINDINGS = [
        Binding("v", "cycle_view", "View"),
        Binding("left", "move(-1)", "Prev token", show=False),
        Binding("right", "move(1)", "Next token", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
    ]

    view: reactive[View] = reactive(View.TEXT)
    cursor: reactive[int] = reactive(-1)

    class TokenSelected(Message):
        def __init__(self, pane: ModelPane, turn: int, index: int) -> None:
            super().__init__()
            self.pane = pane
            self.turn = turn
            self.index = index

    def __init__(self, side: str, transcript: SideTranscript, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.side = side
        self.transcript = transcript
        self.model_name = "(no model)"
        self.status_text = ""
        self.show_prompt = True
        self._dirty = False
        self._last_paint = 0.0
        self._cache: TurnCache = {}
        self._laid_out_with_slack = False
        self.repaints = 0
        """How many times the body was re-rendered (the bench and tests read it)."""

    def compose(self) -> ComposeResult:
        yield Label("", classes="pane-title")
        with VerticalScroll():
            yield Static("", classes="pane-body", expand=True)
        yield Label("", classes="pane-status")

    def on_mount(self) -> None:
        self.refresh_title()
        self.refresh_body()

    # ------------------------------------------------------------------ painting

    def refresh_title(self) -> None:
        title = f"{self.side}: {self.model_name}  [{self.view.value}]"
        # fixed-size labels (height 1, width 1fr): new text never needs a layout pass
        self.query_one(".pane-title", Label).update(title, layout=False)

    def set_status(self, text: str) -> None:
        self.status_text = text
        self.query_one(".pane-status", Label).update(text, layout=False)

    def mark_dirty(self) -> None:
        """Repaint soon: at most MAX_FPS times a second while a reply streams, at once
        otherwise (a resumed or edited conversation has nothing to wait for)."""
        last = self.transcript.last
        if last is None or last.reason is not None:
            self.call_after_refresh(self.refresh_body)
            return
        if not self._dirty:
            self._dirty = True
            wait = self._last_paint + 1 / MAX_FPS - time.monotonic()
            if wait > 0:
                self.set_timer(wait, self.refresh_body)
            else:
                self.call_after_refresh(self.refresh_body)

    def refresh_body(self) -> None:
        self._dirty = False
        self._last_paint = time.monotonic()
        self.repaints += 1
        body = self.query_one(".pane-body", Static)
        text = render_transcript(
            self.transcript, self.view, self.cursor, self.show_prompt, self._cache
        )
        streaming = self.transcript.last is not None and self.transcript.last.reason is None
        if streaming:
            text.append("\n" * SLACK_LINES)
        # A layout pass re-wraps the whole screen (about 19 ms with two streaming panes,
        # measured): only pay it when the text may no longer fit the laid-out height.
        # the reply may grow into the slack, less one line for word-wrap misestimates
        need = wrapped_height(text.plain, body.size.width) - SLACK_LINES
        fits = streaming and self._laid_out_with_slack and 0 < need <= body.size.height - 1
        body.update(text, layout=not fits)
        if not fits:
            self._laid_out_with_slack = streaming
        scroller = self.query_one(VerticalScroll)
        if self.cursor < 0:
            scroller.scroll_end(animate=False, immediate=False)

    def watch_view(self) -> None:
        if self.is_mounted:
            self.refresh_title()
            self.refresh_body()

    def watch_cursor(self) -> None:
        if self.is_mounted:
            self.refresh_body()
            positions = self.transcript.token_positions()
            if 0 <= self.cursor < len(positions):
                turn, index = positions[self.cursor]
                self.post_message(self.TokenSelected(self, turn, index))

    # ------------------------------------------------------------------ actions

    def action_cycle_view(self) -> None:
        self.view = self.view.next()

    def action_move(self, delta: int) -> None:
        n = len(self.transcript.token_positions())
        if n == 0:
            return
        start = n - 1 if self.cursor < 0 else self.cursor
        self.cursor = max(0, min(n - 1, start + delta if self.cursor >= 0 else start))

    def action_jump(self, where: int) -> None:
        n = len(self.transcript.token_positions())
        if n:
            self.cursor = where % n

    def select(self, flat: int) -> None:
        n = len(self.transcript.token_positions())
        if 0 <= flat < n:
            self.cursor = flat

    def on_click(self, event: events.Click) -> None:
        tok = event.style.meta.get("tok")
        if isinstance(tok, int):
            self.focus()
            self.select(tok)
