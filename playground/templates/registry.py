"""Finding a template by name or file, choosing one for a model, and keeping the last good one.

A model whose GGUF carries no chat template (the base Gemma 3 270M) still needs a layout,
so `default_template` picks one from the architecture and the vocabulary and says why, for
the UI to show. `TemplateSession` holds the template in use and refuses a switch to one that
fails, so a broken template never leaves the app without one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from playground.templates.base import JinjaTemplate, Message, Template
from playground.templates.builtin import builtin_templates
from playground.templates.errors import TemplateError, TemplateProblem

if TYPE_CHECKING:
    from playground.engine.types import ModelInfo
    from playground.engine.vocab import Vocab

GGUF = "gguf"
DEFAULT = "default"
"""Pseudo-name: the model's own template if it has one, else a family default."""


def template_names() -> list[str]:
    """Every name `resolve_template` accepts besides a file path, in picker order."""
    return [GGUF, *builtin_templates()]


def list_templates() -> list[tuple[str, str]]:
    """(name, description) for every template, `gguf` first."""
    rows = [(GGUF, "The model's own Jinja template from its GGUF (tokenizer.chat_template)")]
    rows.extend((t.name, t.description) for t in builtin_templates().values())
    return rows


def gguf_template(info: ModelInfo) -> JinjaTemplate:
    """The model's own template, compiled in the sandbox.

    Raises:
        TemplateError: the GGUF has none, or it does not parse.
    """
    if not info.chat_template:
        raise TemplateError(
            f"{info.name} has no chat template in its GGUF (no tokenizer.chat_template). "
            f"Pick a built-in one: {', '.join(builtin_templates())}",
            problem=TemplateProblem.MISSING,
        )
    return JinjaTemplate(
        GGUF,
        info.chat_template,
        description=f"{info.name}'s own template (tokenizer.chat_template)",
        origin=f"the chat template in {Path(info.path).name}",
    )


def load_template_file(path: str | Path, base_dir: Path | None = None) -> JinjaTemplate:
    """A user's Jinja file. Relative paths are taken from base_dir (the models.toml folder).

    Raises:
        TemplateError: the file is missing, unreadable, or does not parse.
    """
    p = Path(path).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    try:
        source = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(
            f"cannot read template file {p}: {exc.strerror or exc}. Check the path "
            "(relative paths start at the folder of models.toml)",
            problem=TemplateProblem.MISSING,
        ) from None
    except UnicodeDecodeError:
        raise TemplateError(
            f"template file {p} is not UTF-8 text", problem=TemplateProblem.MISSING
        ) from None
    return JinjaTemplate(p.stem, source, origin=str(p))


@dataclass(frozen=True)
class DefaultChoice:
    """The template chosen for a model when the user named none, and why (for the UI)."""

    template: Template
    reason: str


def _has_piece(vocab: Vocab | None, text: str) -> bool:
    return vocab is not None and bool(vocab.ids_of_piece(text.encode("utf-8")))


def default_template(info: ModelInfo, vocab: Vocab | None = None) -> DefaultChoice:
    """The model's own template if its GGUF has one, else a family default.

    Family defaults: a Gemma architecture gets `gemma`; a vocabulary with `<|im_start|>`
    gets `chatml`, with `<|start_header_id|>` gets `llama3`; anything else gets `plain`.
    """
    builtins = builtin_templates()
    if info.chat_template:
        try:
            return DefaultChoice(
                gguf_template(info), f"{info.name} uses the chat template in its own GGUF."
            )
        except TemplateError as exc:
            own_fails = f"{info.name}'s own chat template fails ({exc}); "
    else:
        own_fails = f"{info.name} has no chat template in its GGUF; "
    arch = info.architecture.lower()
    if arch.startswith("gemma"):
        name, why = "gemma", f"its architecture is {info.architecture}"
    elif _has_piece(vocab, "<|im_start|>"):
        name, why = "chatml", "its vocabulary has <|im_start|>"
    elif _has_piece(vocab, "<|start_header_id|>"):
        name, why = "llama3", "its vocabulary has <|start_header_id|>"
    else:
        name, why = "plain", "it has no known chat tokens"
    return DefaultChoice(builtins[name], f"{own_fails}using the built-in {name} template ({why}).")


def resolve_template(
    name_or_path: str,
    model_info: ModelInfo | None = None,
    vocab: Vocab | None = None,
    base_dir: Path | None = None,
) -> Template:
    """A template from a built-in name, `gguf`, `default`, or a Jinja file path.

    Raises:
        TemplateError: unknown name, no model for `gguf`/`default`, or a bad file.
    """
    builtins = builtin_templates()
    if name_or_path in builtins:
        return builtins[name_or_path]
    if name_or_path in (GGUF, DEFAULT):
        if model_info is None:
            raise TemplateError(
                f"the {name_or_path!r} template needs a model (it comes from the GGUF); "
                f"with a tiktoken tokenizer pick a built-in one: {', '.join(builtins)}",
                problem=TemplateProblem.MISSING,
            )
        if name_or_path == GGUF:
            return gguf_template(model_info)
        return default_template(model_info, vocab).template
    looks_like_path = (
        name_or_path.endswith((".jinja", ".j2", ".jinja2", ".txt"))
        or "/" in name_or_path
        or "\\" in name_or_path
    )
    if looks_like_path:
        return load_template_file(name_or_path, base_dir)
    raise TemplateError(
        f"unknown template {name_or_path!r}. Valid: {', '.join(template_names())}, "
        "or a path to a .jinja file",
        problem=TemplateProblem.MISSING,
    )


_PROBE: tuple[Message, ...] = ({"role": "user", "content": "Hi"},)


class TemplateSession:
    """The template in use, which only changes to one that works.

    `switch` compiles the candidate and renders a probe conversation; on any failure the
    current template stays and the error is kept in `last_error` for the UI to show.
    """

    def __init__(self, template: Template) -> None:
        self.template = template
        self.last_error: TemplateError | None = None

    def switch(
        self,
        candidate: Template | str,
        model_info: ModelInfo | None = None,
        vocab: Vocab | None = None,
        base_dir: Path | None = None,
    ) -> TemplateError | None:
        """Try a new template. Returns None on success, else the error (template unchanged)."""
        try:
            template = (
                resolve_template(candidate, model_info, vocab, base_dir)
                if isinstance(candidate, str)
                else candidate
            )
            template.render(_PROBE, True, "", "")
        except TemplateError as exc:
            self.last_error = exc
            return exc
        self.template = template
        self.last_error = None
        return None

    def render(
        self,
        messages: Sequence[Message],
        add_generation_prompt: bool = True,
        bos_token: str = "",
        eos_token: str = "",
    ) -> str:
        """Render with the current template. A failure is kept in last_error and re-raised.

        Raises:
            TemplateError: this conversation does not render (the template stays).
        """
        try:
            text = self.template.render(messages, add_generation_prompt, bos_token, eos_token)
        except TemplateError as exc:
            self.last_error = exc
            raise
        self.last_error = None
        return text
