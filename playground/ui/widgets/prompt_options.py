"""One side's prompt options in the Templates panel: system prompt, stops, injection.

Each change posts `PromptOptions.Changed` with the new PromptSettings; the screen hands it
to the app, which uses it from the next turn (and saves it with the conversation).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Checkbox, Input, Label

from playground.templates.prompt import PromptSettings

STOPS_LABEL = "Stop at the template's stop strings (the 'stop at next turn' trick)"
INJECT_LABEL = "Parse special-token text in my messages as special tokens (injection)"


class PromptOptions(Vertical):
    """System prompt, the template-stops switch and the injection switch for one side."""

    DEFAULT_CSS = """
    PromptOptions { height: auto; }
    PromptOptions Input { width: 100%; }
    PromptOptions Checkbox { height: auto; border: none; padding: 0; }
    """

    @dataclass
    class Changed(Message):
        side: str
        settings: PromptSettings

    def __init__(self, side: str, settings: PromptSettings, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.side = side
        self.settings = settings

    def compose(self) -> ComposeResult:
        yield Label("System prompt (empty: none is sent); applies from the next turn")
        yield Input(
            self.settings.system,
            placeholder="no system prompt",
            id=f"system-{self.side}",
        )
        yield Checkbox(STOPS_LABEL, self.settings.template_stops, id=f"stops-{self.side}")
        yield Checkbox(INJECT_LABEL, self.settings.user_specials, id=f"inject-{self.side}")

    def _change(self, **changes: object) -> None:
        self.settings = self.settings.replace(**changes)
        self.post_message(self.Changed(self.side, self.settings))

    @on(Input.Changed)
    def _system(self, event: Input.Changed) -> None:
        event.stop()
        if event.value != self.settings.system:
            self._change(system=event.value)

    @on(Checkbox.Changed)
    def _checked(self, event: Checkbox.Changed) -> None:
        event.stop()
        wid = event.checkbox.id or ""
        if wid.startswith("stops-"):
            self._change(template_stops=event.value)
        elif wid.startswith("inject-"):
            self._change(user_specials=event.value)
