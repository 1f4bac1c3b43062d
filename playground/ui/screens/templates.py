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
from playground.templates.prompt import (
    TemplateProblem,
    build_prompt,
    default_reason,
    template_names,
)
from playground.ui.widgets.prompt_options import PromptOptions
from playground.ui.widgets.token_render import ALT_BG, SPECIAL, visible_piece

if TYPE_CHECKING:
    from playground.ui.app import PlaygroundApp

SAMPLE = "Hello! What is a base model?"
"""The example message previewed while the input is empty (labelled as such on screen)."""

TIKTOKEN_ENCODINGS = ("o200k_base", "cl100k_base")


def tiktoken_counts(text: str) -> str:
    """Token counts of the text under o200k_base and cl100k_base (offline encodings)."""
    from playground.templates.tiktoken_offline import chat_encoding

    parts = []
    for name in TIKTOKEN_ENCODINGS:
        try:
            enc = chat_encoding(name)
            parts.append(f"{name}: {len(enc.encode(text, allowed_special='all'))}")
        except Exception as exc:  # an unavailable encoding is shown, not fatal
            parts.append(f"{name}: unavailable ({exc})")
    return " · ".join(parts)


def tiktoken_tokens(text: str) -> Text:
    """The text cut into tiktoken's tokens, as Tiktokenizer shows it: each token on its own
    shade, then the ids, for o200k_base and cl100k_base."""
    from playground.templates import inspect_tokens, tiktoken_tokenizer

    out = Text()
    for name in TIKTOKEN_ENCODINGS:
        try:
            view = inspect_tokens(text, tiktoken_tokenizer(name), add_bos=False)
        except Exception as exc:  # an unavailable encoding is shown, not fatal
            out.append(f"{name}: unavailable ({exc})\n", "dim")
            continue
        out.append(f"\n{name}: {view.count} tokens\n", "bold")
        for n, row in enumerate(view.tokens):
            out.append(row.shown, SPECIAL if row.special else ALT_BG[n % 2])
        out.append("\n")
        out.append(", ".join(str(row.id) for row in view.tokens) + "\n", "dim")
    return out


class TemplatesScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    TemplatesScreen { align: center middle; }
    TemplatesScreen > TabbedContent { width: 95%; height: 95%; border: round $accent;
                                      background: $surface; }
    TemplatesScreen .counts { height: auto; color: $text-muted; }
    TemplatesScreen .warnings { height: auto; color: $warning; }
    /* the reason for the default is a paragraph: wrap it, a Label's auto width crops it */
    TemplatesScreen .why { width: 1fr; height: auto; }
    """
    BINDINGS = [Binding("escape,f3", "dismiss", "Close")]

    @property
    def playground(self) -> PlaygroundApp:
        return cast("PlaygroundApp", self.app)

    def compose(self) -> ComposeResult:
        listed = template_names()
        names = [(n, n) for n in (*listed, *(["none"] if "none" not in listed else []))]
        with TabbedContent():
            for side in SIDES:
                with TabPane(side, id=f"ttab-{side}"), VerticalScroll():
                    current = self.playground.templates.get(side)
                    yield Label("", id=f"why-{side}", classes="why")
                    yield Select(
                        names,
                        value=current if current in dict(names) else Select.NULL,
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
                    yield Static("", classes="preview-label", id=f"label-{side}")
                    yield Static("", id=f"render-{side}")
                    yield Static("", id=f"tiktoken-{side}")

    def on_mount(self) -> None:
        for side in SIDES:
            self.show(side)
        self.query_one(f"#tpl-{SIDES[0]}", Select).focus()

    @on(TabbedContent.TabActivated)
    def _tab(self, event: TabbedContent.TabActivated) -> None:
        side = (event.pane.id or "").removeprefix("ttab-")
        focused = self.focused
        inside = focused is not None and event.pane in focused.ancestors
        if side in SIDES and not inside:  # a tab picked by its label: its select is next
            self.query_one(f"#tpl-{side}", Select).focus()

    def _next_message(self) -> tuple[str, str]:
        """The message the preview shows after the conversation, and how it is labelled:
        what the user is typing, or (input empty) an example that is said to be one."""
        typed = self.playground.query_one("#prompt", Input).value
        if typed.strip():
            return typed, "the conversation so far + the message you are typing"
        return SAMPLE, f"the conversation so far + an example message, {SAMPLE!r} (not sent)"

    def show(self, side: str) -> None:
        app = self.playground
        model = app.models.get(side)
        render = self.query_one(f"#render-{side}", Static)
        if model is None:
            render.update("no model loaded for this side")
            return
        name = app.templates.get(side, "none")
        spec = app.specs.get(side)
        shown_name = spec.name if spec is not None else model.info.name
        why = (
            default_reason(model, spec.template, spec.role, spec.system)
            if spec
            else default_reason(model)
        )
        self.query_one(f"#why-{side}", Label).update(
            f"{shown_name}: using {name!r}. Why the default: "
            + why.replace(model.info.name, shown_name)
        )
        history = app.transcripts[side].history()
        message, label = self._next_message()
        try:
            prompt = build_prompt(model, app.prompts[side], "chat", history, message)
        except TemplateProblem as exc:
            render.update(Text(f"template failed: {exc}", "bold red"))
            return
        text = Text()
        for n, tok in enumerate(prompt.tokens):
            style = SPECIAL if tok.special else ALT_BG[n % 2]
            text.append(visible_piece(tok.piece, tok.kind), style)
        render.update(text)
        self.query_one(f"#label-{side}", Static).update(Text(f"Preview: {label}", "italic"))
        self.query_one(f"#counts-{side}", Static).update(
            f"Tokens in this preview ({label}): {shown_name}: {len(prompt.ids)} · "
            f"{tiktoken_counts(prompt.text)}"
        )
        self.query_one(f"#tiktoken-{side}", Static).update(tiktoken_tokens(prompt.text))
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
            build_prompt(model, name, "chat", [], self._next_message()[0])
        except TemplateProblem as exc:
            self.notify(f"{name}: {exc}. Keeping the previous template.", severity="error")
            return
        self.playground.set_template(side, name)
        self.show(side)
