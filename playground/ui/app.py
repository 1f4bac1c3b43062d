"""The playground app: two models side by side above one input.

The session core (`playground.session`) holds the conversation and each side's model,
template and settings, and says what runs; the app composes the widgets, turns keys and
messages into calls on the session, runs its jobs in thread workers and paints the results.
Every user-visible action is a method of the app so the bindings, the command palette and the
tests all go through the same path. The app is built in layers, one responsibility a file:
app_shell (state, the session, running jobs), app_forks (the selected token, forks, branches),
app_turns (loading, sending, worker results and failures), app_actions (the other actions and
the panels); this file composes the widgets, starts up and lists the palette's commands.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, ClassVar

from textual.app import ComposeResult, SystemCommand
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Input

from playground.config import ConfigError, load_config
from playground.session.turns import SIDES
from playground.ui import gc_policy
from playground.ui.app_actions import CHAT_PLACEHOLDER, ConversationActions
from playground.ui.keys import APP_KEYS, bindings, palette_commands
from playground.ui.widgets.inspector import TokenInspector
from playground.ui.widgets.model_pane import ModelPane
from playground.ui.widgets.prompt_input import PromptInput
from playground.ui.widgets.shift_chart import ShiftChart

SWITCH_INTERVAL_S = 0.0005


class PlaygroundApp(ConversationActions):
    """Base and aligned model, side by side."""

    CSS_PATH = "app.tcss"
    TITLE = "playground"
    SUB_TITLE = "base vs aligned"

    BINDINGS: ClassVar[list[BindingType]] = list(bindings(APP_KEYS))

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="panes"):
            for side in SIDES:
                yield ModelPane(side, self.transcripts[side], self.frames, id=f"pane-{side}")
        yield ShiftChart(id="shift-chart")
        yield TokenInspector(id="inspector")
        yield PromptInput(placeholder=CHAT_PLACEHOLDER, id="prompt")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        # The model threads give the GIL up inside llama_decode and need it back for a
        # moment per token; with Python's default 5 ms switch interval they can wait that
        # long behind a repaint, every token.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        gc_policy.tune()
        self.query_one(TokenInspector).clear_token()
        self.query_one("#prompt", Input).focus()
        self._update_subtitle()
        if self.theme_problem:
            self.notify(self.theme_problem, severity="warning")
        self.call_after_refresh(self._first_paint)
        for side in SIDES:
            self.watch(self.pane(side), "view", self._update_subtitle, init=False)
        if self.config is None and not self.reload_config():
            return
        if self.load_models_on_start:
            self.load_pair()

    def reload_config(self) -> bool:
        """Read models.toml again; a problem stays in both panes until it is fixed."""
        try:
            self.config = load_config(self.config_path)
        except ConfigError as exc:
            self.config = None
            for side in SIDES:
                self.load_errors[side] = str(exc)
                self.pane(side).set_notice(
                    f"No model: models.toml has a problem.\n{exc}\n"
                    "Fix the file, then F5 → Reload models.toml (or restart playground)."
                )
            self._show_error(None, str(exc))
            return False
        for side in SIDES:
            if self.models.get(side) is None:
                self.load_errors.pop(side, None)
                self.pane(side).set_notice(None)
        return True

    def load_pair(self) -> None:
        """Load the configured pair's models, one per side."""
        if self.config is None:
            return
        pair = self.config.pair
        for side, mid in (("base", pair.base), ("aligned", pair.aligned)):
            self.load_side(side, self.config.models[mid])

    def _first_paint(self) -> None:
        import time

        self.first_paint_at = time.perf_counter()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for title, help_text, action in COMMANDS:
            yield SystemCommand(title, help_text, getattr(self, f"action_{action}"))

    def on_unmount(self) -> None:
        if self.store is not None:
            self.store.close()


COMMANDS: tuple[tuple[str, str, str], ...] = tuple(palette_commands())
