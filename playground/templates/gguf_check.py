"""Say what is wrong with a model's own chat template, and with a configured one.

A GGUF can carry a chat template that does not compile (a Jinja syntax error), and a
models.toml entry can name a .jinja file that is not there. Neither stops the model from
loading: playground falls back to a built-in template. These checks turn each problem into
one line a user can act on (the file, the template's line, the fix), for `playground
models` and the app's panes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from playground.templates.builtin import builtin_templates
from playground.templates.errors import TemplateError
from playground.templates.registry import gguf_template, resolve_template

if TYPE_CHECKING:
    from playground.engine.types import ModelInfo

_PROBE = ({"role": "user", "content": "Hi"},)


def _first_sentence(detail: str) -> str:
    return detail.split(". Fix", 1)[0].rstrip(".")


def gguf_template_problem(info: ModelInfo, fallback: str | None = None) -> str | None:
    """None when the GGUF has no template or its template renders; else what is wrong.

    Args:
        fallback: the template playground uses instead, named in the message.
    """
    if not info.chat_template:
        return None
    try:
        gguf_template(info).render(_PROBE, True, "", "")
    except TemplateError as exc:
        line = f", line {exc.line}" if exc.line is not None else ""
        using = f" playground uses {fallback!r} instead." if fallback else ""
        example = "chatml" if "chatml" in builtin_templates() else next(iter(builtin_templates()))
        return (
            f"the chat template inside {Path(info.path).name} (tokenizer.chat_template{line}) "
            f"does not work: {_first_sentence(exc.detail)}.{using} Fix: set "
            f'template = "{example}" (or another from `playground templates`, or a .jinja '
            "file) for this model in models.toml, or pick one in the app's F3 panel."
        )
    return None


def configured_template_problem(name: str | None, base_dir: Path) -> str | None:
    """None when a models.toml `template = ...` resolves; else what is wrong and the fix.

    `gguf` and `default` need a loaded model and are not checked here.
    """
    if not name or name in ("gguf", "default"):
        return None
    try:
        resolve_template(name, None, None, base_dir).render(_PROBE, True, "", "")
    except TemplateError as exc:
        return f'template = "{name}" in models.toml does not work: {exc}'

    return None
