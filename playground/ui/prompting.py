"""Turns the conversation into each model's prompt: the template, then the tokens.

The templates module owns the templates and renders them in its sandbox; this picks one
per side, turns the text into tokens the way the model expects (BOS once), and reports
template problems as messages, never as crashes. `none` is the document mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from playground.engine.backend import Backend
from playground.session.turns import PromptToken
from playground.templates import registry
from playground.templates.errors import TemplateError


@dataclass(frozen=True)
class RenderedPrompt:
    template: str
    text: str
    ids: list[int]
    tokens: list[PromptToken]
    warnings: list[str] = field(default_factory=list)


class TemplateProblem(Exception):
    """A template could not render (hostile, malformed, raised): the message says why."""


def template_names(model: Backend | None) -> list[str]:
    """The templates a user can pick (the templates module's built-ins, `gguf` first)."""
    return registry.template_names()


def default_template(model: Backend, configured: str | None = None) -> str:
    """The configured template, else the templates module's pick for this model."""
    if configured:
        return configured
    if model.info.chat_template:
        try:
            registry.gguf_template(model.info).render(
                [{"role": "user", "content": "Hi"}], True, "", ""
            )
            return registry.GGUF
        except TemplateError:
            pass
    return registry.default_template(model.info, model.vocab).template.name


def default_reason(model: Backend) -> str:
    """Why that default was picked, for the panel."""
    return registry.default_template(model.info, model.vocab).reason


def render_text(name: str, messages: list[dict[str, str]], model: Backend) -> tuple[str, list[str]]:
    """The prompt text for a chat, and warnings. Raises TemplateProblem (the app keeps going)."""
    vocab = model.vocab
    bos = vocab.pieces[vocab.bos].decode("utf-8", "replace") if vocab.bos is not None else ""
    eos = vocab.pieces[vocab.eos].decode("utf-8", "replace") if vocab.eos is not None else ""
    try:
        template = registry.resolve_template(name, model.info, vocab)
        text = template.render(messages, True, bos, eos)
    except TemplateError as exc:
        raise TemplateProblem(str(exc)) from exc
    warnings = [
        f"template {name!r} uses {tok} but {model.info.name}'s vocabulary has no such token: "
        "it will be tokenized as plain text"
        for tok in template.special_tokens
        if not vocab.ids_of_piece(tok.encode("utf-8"))
    ]
    return text, warnings


def tokens_of(model: Backend, text: str) -> tuple[list[int], list[PromptToken]]:
    """Tokenize with specials parsed, adding BOS unless the text already starts with it."""
    vocab = model.vocab
    add_bos = vocab.add_bos
    if add_bos and vocab.bos is not None and text.encode().startswith(vocab.pieces[vocab.bos]):
        add_bos = False  # the template wrote BOS itself: don't double it
    ids = model.tokenize(text, special=True, add_bos=add_bos)
    if not ids and vocab.bos is not None:
        ids = [vocab.bos]  # an empty document still needs one token to predict from
    toks = [PromptToken(i, vocab.pieces[i], vocab.kind(i), vocab.is_special(i)) for i in ids]
    return ids, toks


def build_prompt(
    model: Backend, template: str, mode: str, history: list[dict[str, str]], user: str
) -> RenderedPrompt:
    """The exact prompt one side sees for this turn.

    Args:
        template: the template name for this side (ignored in document mode).
        mode: "chat" (history + user through the template) or "document" (user as raw text).
    """
    if mode == "document" or template == "none":
        text, used = user, "none"
        warnings: list[str] = []
    else:
        messages = [*history, {"role": "user", "content": user}]
        text, warnings = render_text(template, messages, model)
        used = template
    ids, toks = tokens_of(model, text)
    return RenderedPrompt(used, text, ids, toks, warnings)
