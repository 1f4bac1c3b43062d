"""The templates panel: pick a template per model and see exactly what the model will get.

The rendered prompt shows its special tokens highlighted (as the model's tokenizer parses
them), next to the token counts under the model's tokenizer and under tiktoken's o200k_base
and cl100k_base, and any warnings. A pick applies from the next turn.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select, Static, TabbedContent, TabPane

from playground.session.turns import SIDES
from playground.ui.prompting import TemplateProblem, build_prompt, default_reason, template_names
from playground.ui.widgets.prompt_options import PromptOptions
from playground.ui.widgets.token_render import ALT_BG, SPECIAL, visible_piece

if TYPE_CHECKING:
    from playground.ui.app import PlaygroundApp

SAMPLE = "Hello! What is a base model?"


def tiktoken_counts(text: str) -> str:
    """Token counts of the text under o200k_base and cl100k_base (offline encodings)."""
    from playground.templates.tiktoken_offline import chat_encoding

    parts = []
    for name in ("o200k_base", "cl100k_base"):
        try:
            enc = chat_encoding(name)
            parts.append(f"{name}: {len(enc.encode(text, allowed_special='all'))}")
        except Exception as exc:  # an unavailable encoding is shown, not fatal
            parts.append(f"{name}: unavailable ({exc})")
    return " · ".join(parts)


class TemplatesScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    TemplatesScreen { align: center middle; }
    TemplatesScreen > TabbedContent { width: 95%; height: 95%; border: round $accent;
                                      background: $surface; }
    TemplatesScreen .counts { height: auto; color: $text-muted; }
    TemplatesScreen .warnings { height: auto; color: $warning; }
    """
    BINDINGS = [Binding("escape,f3", "dismiss", "Close")]

    @property
    def playground(self) -> PlaygroundApp:
        return cast("PlaygroundApp", self.app)

    def compose(self) -> ComposeResult:
        names = [(n, n) for n in template_names(None)]
        with TabbedContent():
            for side in SIDES:
                with TabPane(side, id=f"ttab-{side}"), VerticalScroll():
                    current = self.playground.templates.get(side)
                    yield Label("", id=f"why-{side}")
                    yield Select(
                        names,
                        value=current if current in dict(names) else Select.BLANK,
                        id=f"tpl-{side}",
                        prompt="template",
                    )
                    yield Input(
                        placeholder="or your own Jinja template: a file path, then Enter",
                        id=f"file-{side}",
                    )
                    yield PromptOptions(side, self.playground.prompts[side], id=f"opts-{side}")
                    yield Static("", classes="counts", id=f"counts-{side}")
                    yield Static("", classes="warnings", id=f"warn-{side}")
                    yield Static("", id=f"render-{side}")

    def on_mount(self) -> None:
        for side in SIDES:
            self.show(side)

    def show(self, side: str) -> None:
        app = self.playground
        model = app.models.get(side)
        render = self.query_one(f"#render-{side}", Static)
        if model is None:
            render.update("no model loaded for this side")
            return
        name = app.templates.get(side, "none")
        spec = app.specs.get(side)
        why = default_reason(model, spec.template, spec.role) if spec else default_reason(model)
        self.query_one(f"#why-{side}", Label).update(
            f"{model.info.name}: using {name!r}. Why the default: {why}"
        )
        history = app.transcripts[side].history()
        try:
            prompt = build_prompt(model, app.prompts[side], "chat", history, SAMPLE)
        except TemplateProblem as exc:
            render.update(Text(f"template failed: {exc}", "bold red"))
            return
        text = Text()
        for n, tok in enumerate(prompt.tokens):
            style = SPECIAL if tok.special else ALT_BG[n % 2]
            text.append(visible_piece(tok.piece, tok.kind), style)
        render.update(text)
        self.query_one(f"#counts-{side}", Static).update(
            f"{model.info.name}: {len(prompt.ids)} tokens · {tiktoken_counts(prompt.text)}"
        )
        self.query_one(f"#warn-{side}", Static).update("\n".join(prompt.warnings))

    @on(Select.Changed)
    def _picked(self, event: Select.Changed) -> None:
        sid = event.select.id or ""
        if not sid.startswith("tpl-") or not isinstance(event.value, str):
            return
        self._use(sid.removeprefix("tpl-"), event.value)

    @on(Input.Submitted)
    def _file_picked(self, event: Input.Submitted) -> None:
        iid = event.input.id or ""
        if not iid.startswith("file-"):
            return
        path = Path(event.value.strip()).expanduser()
        if not path.is_file():
            self.notify(
                f"No file at {path}. Give the path of a Jinja chat template (.jinja).",
                severity="error",
            )
            return
        self._use(iid.removeprefix("file-"), str(path.resolve()))

    @on(PromptOptions.Changed)
    def _options(self, event: PromptOptions.Changed) -> None:
        self.playground.set_prompt_settings(event.side, event.settings)
        self.show(event.side)

    def _use(self, side: str, name: str) -> None:
        """Switch one side's template if it renders; otherwise keep the previous one."""
        model = self.playground.models.get(side)
        if model is None:
            return
        try:
            build_prompt(model, name, "chat", [], SAMPLE)
        except TemplateProblem as exc:
            self.notify(f"{name}: {exc}. Keeping the previous template.", severity="error")
            return
        self.playground.set_template(side, name)
        self.show(side)
