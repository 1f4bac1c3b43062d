"""What each model sees before the reply: the aligned side's template, the base side's choice.

URIAL gave the aligned model its chat template and the base model the bare query in a plain
`# Query:` / `# Answer:` layout. The playground lets the user pick the base side's wrapping
(`same` template as the aligned model, `urial`, or `raw`) and always shows the exact text.

Templates come from `playground.templates` (the aligned model's own GGUF template, or a
family default when its GGUF has none; `urial-plain` for the URIAL layout).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from playground.engine.backend import Backend
from playground.templates.base import Template
from playground.templates.registry import resolve_template

BaseContext = Literal["same", "urial", "raw"]
BASE_CONTEXTS: tuple[BaseContext, ...] = ("same", "urial", "raw")

URIAL_TEMPLATE = "urial-plain"
"""URIAL's layout without its preamble and examples, as the paper's analysis wrapped queries."""


@dataclass(frozen=True)
class Prompt:
    """One side's exact prompt: the text shown in reports and the ids the model saw."""

    text: str
    ids: tuple[int, ...]
    mode: str
    """'template' (the model's own), 'same', 'urial' or 'raw'."""
    template: str
    """The template's name ('-' for the raw query)."""
    stop: tuple[str, ...] = ()
    """Strings that end a reply in this layout (URIAL's '# Query')."""


def _special_text(model: Backend, token: int | None) -> str:
    if token is None:
        return ""
    return model.vocab.pieces[token].decode("utf-8", errors="replace")


def _render(template: Template, model: Backend, query: str) -> str:
    """One user message with the generation prompt, BOS/EOS text of `model` (who reads it)."""
    return template.render(
        [{"role": "user", "content": query}],
        add_generation_prompt=True,
        bos_token=_special_text(model, model.vocab.bos),
        eos_token=_special_text(model, model.vocab.eos),
    )


def _ids(model: Backend, text: str) -> tuple[int, ...]:
    """Tokenize a prompt, special tokens parsed, BOS added once if the model wants one."""
    ids = model.tokenize(text, special=True, add_bos=False)
    bos = model.vocab.bos
    if model.vocab.add_bos and bos is not None and (not ids or ids[0] != bos):
        ids = [bos, *ids]
    if not ids and bos is not None:
        ids = [bos]  # scoring needs at least one context token
    return tuple(ids)


def chat_template(model: Backend) -> Template:
    """The model's own chat template, or its family default when the GGUF has none."""
    return resolve_template("default", model.info, model.vocab)


def aligned_prompt(model: Backend, query: str) -> Prompt:
    """The aligned model's own chat template around the query."""
    template = chat_template(model)
    text = _render(template, model, query)
    return Prompt(text, _ids(model, text), "template", template.name, template.stop)


def base_prompt(
    model: Backend, query: str, mode: BaseContext, aligned: Backend | None = None
) -> Prompt:
    """The base model's context.

    Args:
        mode: 'same' renders the aligned model's template (tokenized by the base model);
            'urial' is URIAL's `# Query:` / `# Answer:` layout; 'raw' is the bare query.
        aligned: the model whose template 'same' borrows (default: `model` itself).

    Raises:
        ValueError: an unknown mode.
        TemplateError: the template failed to render.
    """
    if mode == "same":
        template = chat_template(aligned or model)
    elif mode == "urial":
        template = resolve_template(URIAL_TEMPLATE)
    elif mode == "raw":
        return Prompt(query, _ids(model, query), "raw", "-")
    else:
        raise ValueError(f"unknown base context {mode!r}; valid: {', '.join(BASE_CONTEXTS)}")
    text = _render(template, model, query)
    return Prompt(text, _ids(model, text), mode, template.name, template.stop)
