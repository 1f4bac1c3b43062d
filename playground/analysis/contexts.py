"""What each model sees before the reply: the aligned side's template, the base side's choice.

URIAL gave the aligned model its chat template and the base model the bare query in a plain
`# Query:` / `# Answer:` layout. The playground lets the user pick the base side's wrapping
(`same` template as the aligned model, `urial`, or `raw`) and always shows the exact text.

Rendering goes through `playground.templates` when it is importable; until then a small
sandboxed Jinja fallback renders the GGUF's own template (ChatML when it has none).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal

from playground.engine.llama_model import LlamaModel

BaseContext = Literal["same", "urial", "raw"]
BASE_CONTEXTS: tuple[BaseContext, ...] = ("same", "urial", "raw")

URIAL_LAYOUT = "# Query:\n{query}\n\n# Answer:\n"
"""URIAL's plain layout without its in-context examples."""
URIAL_STOP = "# Query"
"""URIAL stops the base model where it would start the next query."""

_CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@dataclass(frozen=True)
class Prompt:
    """One side's exact prompt: the text shown in reports and the ids the model saw."""

    text: str
    ids: tuple[int, ...]
    mode: str
    """'template' (the model's own), 'same', 'urial' or 'raw'."""


def _render_chat(model: LlamaModel, query: str) -> str:
    """The model's chat template applied to one user message, with the generation prompt."""
    messages = [{"role": "user", "content": query}]
    bos = model.vocab.pieces[model.vocab.bos].decode() if model.vocab.bos is not None else ""
    eos = model.vocab.pieces[model.vocab.eos].decode() if model.vocab.eos is not None else ""
    # Looked up at run time: the templates module is being written alongside this one.
    try:
        templates = importlib.import_module("playground.templates")
    except ImportError:
        templates = None
    resolve_template: Any = getattr(templates, "resolve_template", None)
    if resolve_template is not None:
        template: Any = resolve_template(None, model.info)
        text: str = template.render(
            messages, add_generation_prompt=True, bos_token=bos, eos_token=eos
        )
        return text
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=False, lstrip_blocks=False)
    source = model.info.chat_template or _CHATML
    return env.from_string(source).render(
        messages=messages, add_generation_prompt=True, bos_token=bos, eos_token=eos
    )


def _ids(model: LlamaModel, text: str) -> tuple[int, ...]:
    """Tokenize a prompt, special tokens parsed, BOS added once if the model wants one."""
    ids = model.tokenize(text, special=True, add_bos=False)
    bos = model.vocab.bos
    if model.vocab.add_bos and bos is not None and (not ids or ids[0] != bos):
        ids = [bos, *ids]
    if not ids and bos is not None:
        ids = [bos]  # scoring needs at least one context token
    return tuple(ids)


def aligned_prompt(model: LlamaModel, query: str) -> Prompt:
    """The aligned model's own chat template around the query."""
    text = _render_chat(model, query)
    return Prompt(text, _ids(model, text), "template")


def base_prompt(
    model: LlamaModel, query: str, mode: BaseContext, aligned: LlamaModel | None = None
) -> Prompt:
    """The base model's context.

    Args:
        mode: 'same' renders the aligned model's template (tokenized by the base model);
            'urial' is URIAL's `# Query:` / `# Answer:` layout; 'raw' is the bare query.
        aligned: the model whose template 'same' borrows (default: `model` itself).

    Raises:
        ValueError: an unknown mode.
    """
    if mode == "same":
        text = _render_chat(aligned or model, query)
    elif mode == "urial":
        text = URIAL_LAYOUT.format(query=query)
    elif mode == "raw":
        text = query
    else:
        raise ValueError(f"unknown base context {mode!r}; valid: {', '.join(BASE_CONTEXTS)}")
    return Prompt(text, _ids(model, text), mode)
