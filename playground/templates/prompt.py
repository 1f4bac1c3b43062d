"""From a conversation to the exact tokens one model sees: template, system prompt, URIAL.

The app, the CLI and the benchmarks all build prompts here, so `generate --urial`, the
story evaluation and a chat turn in the app give a model the same tokens.

A user's message is text. Only the template's own markers (`<|im_start|>`,
`<start_of_turn>`, BOS...) become special tokens; `<|im_end|>` typed in a message is
tokenized as the characters it is made of, so nobody forges a turn boundary by accident.
`PromptSettings.user_specials` turns the other behaviour on, for experiments with
injection, and the result says which one was used.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from playground.engine.types import TokenKind
from playground.templates import registry
from playground.templates.base import Message, Template
from playground.templates.errors import TemplateError

if TYPE_CHECKING:
    from playground.engine.types import ModelInfo
    from playground.engine.vocab import Vocab

Mode = Literal["chat", "document"]

URIAL = "urial"


class PromptModel(Protocol):
    """What prompt building needs from a model: its vocabulary, facts and tokenizer."""

    @property
    def vocab(self) -> Vocab: ...

    @property
    def info(self) -> ModelInfo: ...

    def tokenize(
        self, text: str | bytes, *, special: bool = True, add_bos: bool = False
    ) -> list[int]:
        """Tokenize; `special` parses control-token text as the control token."""
        ...


@dataclass(frozen=True)
class PromptSettings:
    """How one side turns a conversation into a prompt (saved with the conversation)."""

    template: str = registry.DEFAULT
    """A built-in name, `gguf`, `default` (playground's pick) or a Jinja file path."""
    system: str = ""
    """The system prompt; empty means none is sent."""
    template_stops: bool = False
    """Whether the template's own stop strings end a reply (the user's always do). Off for
    a base model by default: cutting it off at the next `User:` hides what it does."""
    user_specials: bool = False
    """Parse special-token text typed in a message as special tokens (injection
    experiments); off: a message is always text."""

    def replace(self, **changes: object) -> PromptSettings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> PromptSettings:
        """Settings saved as a dict (a conversation file). Raises ValueError on a wrong
        key or type."""
        if not isinstance(data, Mapping):
            raise ValueError(f"prompt settings must be a mapping, not {type(data).__name__}")
        kinds = {"template": str, "system": str, "template_stops": bool, "user_specials": bool}
        changes: dict[str, object] = {}
        for key, value in data.items():
            kind = kinds.get(key)
            if kind is None:
                raise ValueError(f"unknown prompt setting {key!r}; valid: {', '.join(kinds)}")
            if not isinstance(value, kind):
                raise ValueError(f"prompt setting {key!r} must be {kind.__name__}")
            changes[key] = value
        return cls(**changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class PromptToken:
    """One token of the prompt as the model saw it (template tokens included)."""

    id: int
    piece: bytes
    kind: TokenKind
    special: bool


@dataclass(frozen=True)
class RenderedPrompt:
    """The exact prompt one side sees for one turn."""

    template: str
    """The template actually used ("none" in document mode, "urial" with URIAL on)."""
    text: str
    ids: list[int]
    tokens: list[PromptToken]
    warnings: list[str] = field(default_factory=list)
    template_stop: tuple[str, ...] = ()
    """The template's own stop strings (applied only when the settings say so)."""
    markers: frozenset[int] = frozenset()
    """Ids of the template's marker tokens in this vocabulary: shown as special even where
    the vocabulary calls them user-defined."""
    user_specials: bool = False
    """True: special-token text in the messages was parsed as special tokens."""
    system: str = ""


class TemplateProblem(Exception):
    """A template could not render (hostile, malformed, raised): the message says why."""


# ---------------------------------------------------------------------------- choosing


def template_names() -> list[str]:
    """The templates a user can pick (the built-ins, `gguf` first)."""
    return registry.template_names()


def default_template(model: PromptModel, configured: str | None = None) -> str:
    """The configured template, else the GGUF's own if it renders, else a family default."""
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


def default_reason(
    model: PromptModel, configured: str | None = None, role: str = "", system: str = ""
) -> str:
    """Why this side's default template and stop setting are what they are, for the panel."""
    if configured:
        return why_configured(configured, role, system)
    return registry.default_template(model.info, model.vocab).reason


def why_configured(template: str, role: str, system: str = "") -> str:
    """The reason models.toml picks `template` (and `system`) for a model of this role."""
    if role == "base":
        return (
            f"models.toml sets {template!r}: a base model was never trained on a chat "
            "format, so it gets a layout it has seen in pre-training text. It answers, then "
            "goes on writing the next turns of the document itself: that is the lesson. Its "
            "template's stop strings are off, so nothing cuts it short."
        )
    if role == "aligned" and system:
        return (
            f"models.toml sets {template!r}, the model's own chat format, with a short "
            f"system prompt ({system!r}): a small aligned model answers best in the format "
            "it was tuned on, with a system prompt as in its tuning data. Some (SmolLM2) "
            "cannot handle the default system prompt their GGUF template would inject; "
            "bench/story_eval.py measured this one against it and against none."
        )
    if role == "aligned":
        return (
            f"models.toml sets {template!r}, the model's own chat format, with no system "
            "prompt: a small aligned model answers best in the format it was tuned on, "
            "and some (SmolLM2) cannot handle the default system prompt their GGUF "
            "template would inject."
        )
    return f"models.toml sets {template!r}."


def default_settings(
    model: PromptModel, template: str | None, system: str, role: str
) -> PromptSettings:
    """A side's prompt settings from its models.toml entry (template stops on only for an
    aligned model: a base model's rambling is the point)."""
    return PromptSettings(
        template=default_template(model, template),
        system=system,
        template_stops=role == "aligned",
    )


# ---------------------------------------------------------------------------- rendering


def _bos_eos(vocab: Vocab) -> tuple[str, str]:
    bos = vocab.pieces[vocab.bos].decode("utf-8", "replace") if vocab.bos is not None else ""
    eos = vocab.pieces[vocab.eos].decode("utf-8", "replace") if vocab.eos is not None else ""
    return bos, eos


def resolve(name: str, model: PromptModel) -> Template:
    """The template object. Raises TemplateProblem (the caller keeps going)."""
    try:
        return registry.resolve_template(name, model.info, model.vocab)
    except TemplateError as exc:
        raise TemplateProblem(str(exc)) from exc


def render_text(
    name: str, messages: Sequence[Message], model: PromptModel
) -> tuple[str, list[str]]:
    """The prompt text for a chat, and warnings. Raises TemplateProblem."""
    template = resolve(name, model)
    bos, eos = _bos_eos(model.vocab)
    try:
        text = template.render(messages, True, bos, eos)
    except TemplateError as exc:
        raise TemplateProblem(str(exc)) from exc
    return text, _missing_warnings(template, model)


def _missing_warnings(template: Template, model: PromptModel) -> list[str]:
    return [
        f"template {template.name!r} uses {tok} but {model.info.name}'s vocabulary has no "
        "such token: it will be tokenized as plain text"
        for tok in template.special_tokens
        if not model.vocab.ids_of_piece(tok.encode("utf-8"))
    ]


def marker_ids(template: Template | None, vocab: Vocab) -> frozenset[int]:
    """Ids of the template's markers that are single tokens in this vocabulary."""
    if template is None:
        return frozenset()
    found: set[int] = set()
    for tok in template.special_tokens:
        ids = vocab.ids_of_piece(tok.encode("utf-8"))
        found.update(i for i in ids if vocab.kind(i) is not TokenKind.NORMAL)
    return frozenset(found)


def messages_for(history: Sequence[Message], user: str, system: str) -> list[dict[str, str]]:
    """The conversation a template renders: the system prompt (if any), history, message."""
    out: list[dict[str, str]] = []
    if system:
        out.append({"role": "system", "content": system})
    out.extend({"role": m["role"], "content": m["content"]} for m in history)
    out.append({"role": "user", "content": user})
    return out


def build_prompt(
    model: PromptModel,
    settings: PromptSettings | str,
    mode: Mode | str,
    history: Sequence[Message],
    user: str,
    *,
    urial: bool = False,
) -> RenderedPrompt:
    """The exact prompt one side sees for this turn.

    Args:
        settings: this side's prompt settings (a bare template name means defaults).
        mode: "chat" (system + history + message through the template) or "document"
            (the message as raw text, no template).
        urial: wrap the chat in URIAL's in-context alignment prompt instead of the template.

    Raises:
        TemplateProblem: the template failed on this conversation.
    """
    ps = settings if isinstance(settings, PromptSettings) else PromptSettings(template=settings)
    vocab = model.vocab
    if mode == "document" or (ps.template == "none" and not urial):
        contents = [user]
        segments: list[tuple[str, bool]] = [(user, True)]
        text, used, template = user, "none", None
        warnings: list[str] = []
        system = ""
    else:
        used = URIAL if urial else ps.template
        template = resolve(used, model)
        messages = messages_for(history, user, ps.system)
        # The model's own earlier replies may hold its control tokens: only what a person
        # wrote (messages, the system prompt) is kept as text.
        contents = [m["content"] for m in messages if m["role"] != "assistant"]
        text, warnings = render_text(used, messages, model)
        segments = _segments(template, messages, text, vocab)
        system = ps.system
    parse_user = ps.user_specials
    ids, note = _tokenize(model, text, segments, contents, parse_user)
    if note:
        warnings.append(note)
    if not ids and vocab.bos is not None:
        ids = [vocab.bos]  # an empty document still needs one token to predict from
    markers = marker_ids(template, vocab)
    toks = [
        PromptToken(i, vocab.pieces[i], vocab.kind(i), vocab.is_special(i) or i in markers)
        for i in ids
    ]
    if parse_user and any(_special_re(vocab).search(c) for c in contents):
        warnings.append(
            "special-token text in the messages was parsed as special tokens (injection "
            "is on in the Templates panel)"
        )
    return RenderedPrompt(
        template=used,
        text=text,
        ids=ids,
        tokens=toks,
        warnings=warnings,
        template_stop=template.stop if template is not None else (),
        markers=markers,
        user_specials=parse_user,
        system=system,
    )


def reply_stops(
    user_stop: Sequence[str], prompt: RenderedPrompt, settings: PromptSettings
) -> tuple[str, ...]:
    """The stop strings of one reply: the user's always, the template's if switched on."""
    stops = list(user_stop)
    if settings.template_stops:
        stops.extend(s for s in prompt.template_stop if s not in stops)
    return tuple(s for s in stops if s)


# ---------------------------------------------------------------------------- tokens


def _special_re(vocab: Vocab) -> re.Pattern[str]:
    """Matches the text of any control (or unknown) token, longest first, as llama.cpp's
    tokenizer does when it parses special tokens."""
    cached: re.Pattern[str] | None = vocab.__dict__.get("_control_re")
    if cached is None:
        ids = vocab.ids_of_kind(TokenKind.CONTROL, TokenKind.UNKNOWN)
        texts = {vocab.pieces[i].decode("utf-8", "replace") for i in ids if vocab.pieces[i]}
        ordered = sorted(texts, key=len, reverse=True)
        cached = re.compile("|".join(re.escape(t) for t in ordered) or r"(?!)")
        object.__setattr__(vocab, "_control_re", cached)
    return cached


_SENTINEL = "\ue000{}\ue001"


def _segments(
    template: Template, messages: Sequence[Message], text: str, vocab: Vocab
) -> list[tuple[str, bool]]:
    """The rendered text cut into (piece, is_message_content) runs.

    The template is rendered again with each message's content replaced by a sentinel; the
    template's own text is what lies between the sentinels. Each content is matched as
    given or trimmed (Gemma and Llama 3 trim). Returns [] when the text cannot be split
    that way (a template that rewrites the content): the caller then falls back.
    """
    probe = [{"role": m["role"], "content": _SENTINEL.format(n)} for n, m in enumerate(messages)]
    bos, eos = _bos_eos(vocab)
    try:
        skeleton = template.render(probe, True, bos, eos)
    except TemplateError:
        return []
    parts = re.split("\ue000(\\d+)\ue001", skeleton)
    out: list[tuple[str, bool]] = []
    pos = 0
    for k, part in enumerate(parts):
        if k % 2 == 0:
            if not text.startswith(part, pos):
                return []
            if part:
                out.append((part, False))
            pos += len(part)
            continue
        content = messages[int(part)]["content"]
        following = parts[k + 1] if k + 1 < len(parts) else ""
        for variant in (content, content.strip(), content.rstrip(), content.lstrip()):
            end = pos + len(variant)
            if text.startswith(variant, pos) and text.startswith(following, end):
                if variant:
                    out.append((variant, messages[int(part)]["role"] != "assistant"))
                pos = end
                break
        else:
            return []
    return out if pos == len(text) else []


def _tokenize(
    model: PromptModel,
    text: str,
    segments: list[tuple[str, bool]],
    contents: Sequence[str],
    parse_user: bool,
) -> tuple[list[int], str]:
    """Tokens of the prompt, BOS added once, and a note when the user's text could not be
    kept apart from the template's. Message content never becomes a control token unless
    `parse_user`."""
    vocab = model.vocab
    bos_text = vocab.pieces[vocab.bos].decode("utf-8", "replace") if vocab.bos is not None else ""
    pattern = _special_re(vocab)
    protect = not parse_user and any(pattern.search(c) for c in contents)
    if protect and segments:
        wrote_bos = bool(bos_text) and not segments[0][1] and segments[0][0].startswith(bos_text)
        return _tokenize_segments(model, segments, vocab.add_bos and not wrote_bos), ""
    wrote_bos = bool(bos_text) and text.startswith(bos_text)
    ids = model.tokenize(text, special=True, add_bos=vocab.add_bos and not wrote_bos)
    note = (
        "this template rewrites the messages, so special-token text in them could not be "
        "kept as text: it was parsed as special tokens"
        if protect
        else ""
    )
    return ids, note


def _tokenize_segments(
    model: PromptModel, segments: Sequence[tuple[str, bool]], add_bos: bool
) -> list[int]:
    """What llama.cpp does with special parsing on, but only in the template's text.

    llama.cpp splits the text at every control-token text and tokenizes the runs between
    them as plain text; here the split points are searched for in the template's segments
    only, and each run (template text and message text together) is tokenized with special
    parsing off, so a message's `<|im_end|>` stays characters.
    """
    vocab = model.vocab
    pattern = _special_re(vocab)
    ids: list[int] = [vocab.bos] if add_bos and vocab.bos is not None else []
    run: list[str] = []

    def flush() -> None:
        if run:
            ids.extend(model.tokenize("".join(run), special=False, add_bos=False))
            run.clear()

    for piece, is_content in segments:
        if is_content:
            run.append(piece)
            continue
        pos = 0
        for m in pattern.finditer(piece):
            run.append(piece[pos : m.start()])
            flush()
            ids.extend(model.tokenize(m.group(0), special=True, add_bos=False))
            pos = m.end()
        run.append(piece[pos:])
    flush()
    return ids
