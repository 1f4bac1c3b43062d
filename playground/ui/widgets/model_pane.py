"""One side of the comparison: title, the streaming reply in one of three views, status."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label, Static

from playground.session.turns import SideTranscript
from playground.ui.frames import FrameClock
from playground.ui.keys import PANE_KEYS, bindings
from playground.ui.widgets.prompt_input import typed_text
from playground.ui.widgets.token_render import View
from playground.ui.widgets.token_view import TokenView

_OWN_KEYS = frozenset(k for key in PANE_KEYS for k in key.keys.split(","))

MAX_FPS = 8
"""Streaming frames per second (both panes paint in the same one): on a small machine each
screen update is time the models do not decode."""


class ModelPane(Widget, can_focus=True):
    """A pane that shows one side's transcript and lets the user pick a token."""

    DEFAULT_CSS = """
    ModelPane { height: 1fr; width: 1fr; border: round $primary-darken-2; }
    ModelPane:focus-within, ModelPane:focus { border: round $accent; }
    ModelPane > .pane-title { height: 1; width: 1fr; background: $boost; text-style: bold; }
    ModelPane > TokenView { height: 1fr; }
    ModelPane > .pane-status { height: 1; width: 1fr; color: $text-muted; }
    ModelPane > .pane-notice { height: auto; max-height: 50%; width: 1fr; color: $error;
                               padding: 0 1; display: none; }
    ModelPane > .pane-notice.-shown { display: block; }
    """

    BINDINGS: ClassVar[list[BindingType]] = bindings(PANE_KEYS)

    view: reactive[View] = reactive(View.TEXT)
    cursor: reactive[int] = reactive(-1)

    class Typed(Message):
        """Text typed, or Enter pressed, while the pane had focus: it belongs to the input
        (character None is Enter)."""

        def __init__(self, pane: ModelPane, character: str | None) -> None:
            super().__init__()
            self.pane = pane
            self.character = character

    class TokenSelected(Message):
        def __init__(self, pane: ModelPane, turn: int, index: int) -> None:
            super().__init__()
            self.pane = pane
            self.turn = turn
            self.index = index

    class Branch(Message):
        """Show another branch (sibling) of turn number `turn` on screen."""

        def __init__(self, pane: ModelPane, turn: int, delta: int) -> None:
            super().__init__()
            self.pane = pane
            self.turn = turn
            self.delta = delta

    def __init__(
        self,
        side: str,
        transcript: SideTranscript,
        clock: FrameClock | None = None,
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.side = side
        self.transcript = transcript
        self.clock = clock
        """Streaming paints go through it; without one the pane paints at once."""
        self.model_name = "(no model)"
        self.status_text = ""
        self.notice_text = ""
        self.show_prompt = True
        self._pending_status: str | None = None

    def compose(self) -> ComposeResult:
        yield Label("", classes="pane-title")
        yield Static("", classes="pane-notice")
        yield TokenView(self.transcript, classes="pane-body")
        yield Label("", classes="pane-status")

    def on_mount(self) -> None:
        self.refresh_title()
        self.refresh_body()

    # ------------------------------------------------------------------ painting

    def refresh_title(self) -> None:
        # a Text, not markup: "[text]" as markup is a style tag and vanished
        title = Text(f"{self.side}: {self.model_name}  [{self.view.value} view]")
        # fixed-size labels (height 1, width 1fr): new text never needs a layout pass
        self.query_one(".pane-title", Label).update(title, layout=False)

    def set_notice(self, text: str | None) -> None:
        """A problem that stays in the pane until it is fixed (a config error, a failed
        load, a missed message), in full; None hides it."""
        self.notice_text = text or ""
        notice = self.query_one(".pane-notice", Static)
        notice.update(self.notice_text)
        notice.set_class(bool(text), "-shown")

    def set_status(self, text: str) -> None:
        self.status_text = text
        self._pending_status = None  # a status set now outranks one waiting for a frame
        self.query_one(".pane-status", Label).update(text, layout=False)

    def set_status_soon(self, text: str) -> None:
        """The status of a streaming reply: painted with the next frame, not on its own."""
        self._pending_status = text
        self.mark_dirty()

    def mark_dirty(self) -> None:
        """Repaint with the next frame while a reply streams, at once otherwise (a resumed
        or edited conversation has nothing to wait for)."""
        last = self.transcript.last
        if self.clock is None or last is None or last.reason is not None:
            self.call_after_refresh(self.refresh_body)
        else:
            self.clock.request(self.side, self.refresh_body)

    @property
    def body(self) -> TokenView:
        return self.query_one(TokenView)

    def refresh_body(self) -> None:
        bodies = self.query(TokenView)
        if not bodies:  # a frame that fires while the app shuts down
            return
        if self._pending_status is not None:
            self.set_status(self._pending_status)
        body = bodies.first()
        body.view, body.cursor, body.show_prompt = self.view, self.cursor, self.show_prompt
        body.update_lines()

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

    def action_branch(self, delta: int) -> None:
        """The turn under the cursor (else the last one) swipes to a sibling."""
        positions = self.transcript.token_positions()
        if 0 <= self.cursor < len(positions):
            turn = positions[self.cursor][0]
        else:
            turn = len(self.transcript.turns) - 1
        if turn >= 0:
            self.post_message(self.Branch(self, turn, delta))

    def select(self, flat: int) -> None:
        n = len(self.transcript.token_positions())
        if 0 <= flat < n:
            self.cursor = flat

    def on_key(self, event: events.Key) -> None:
        """Typing in a pane goes to the input, so no keystroke is lost after Tab or a panel
        (only the pane's own keys, such as `v`, stay here)."""
        if event.key in _OWN_KEYS:
            return
        text = typed_text(event)
        if event.key == "enter" or text is not None:
            event.stop()
            event.prevent_default()
            self.post_message(self.Typed(self, None if event.key == "enter" else text))

    def on_click(self, event: events.Click) -> None:
        tok = event.style.meta.get("tok")
        if isinstance(tok, int):
            self.focus()
            self.select(tok)
