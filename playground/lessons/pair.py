"""The loaded pair as the lessons see it, and the few calls every lesson makes on it.

A lesson runs on whatever pair the user has loaded, with each side's template and system
prompt as the app or models.toml has them, so the figures are about the models in front of
the user. Prompts are rendered by the templates module and tokenized the way generation
needs them (BOS once); replies come from the engine's stream, whole, with their events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from playground.engine.backend import Backend
from playground.engine.settings import SamplerSettings
from playground.engine.types import Finished, StopReason, TokenEvent
from playground.templates.base import Message, Template
from playground.templates.prompt import PromptSettings, build_prompt
from playground.templates.registry import default_template, resolve_template
from playground.templates.tokenview import LlamaTokenizer, encode_prompt

Side = Literal["base", "aligned"]
SIDES: tuple[Side, ...] = ("base", "aligned")

ProgressFn = Callable[[int, int, str], None]
"""(steps done, steps in all, what is running now)."""


class LessonCancelled(Exception):
    """The user stopped the lesson; nothing is reported."""


@dataclass
class LessonPair:
    """The two loaded models, each with the template and system prompt it is used with."""

    base: Backend
    aligned: Backend
    base_template: str = "default"
    """A template name as `resolve_template` takes it; 'default' is the model's own pick."""
    aligned_template: str = "default"
    base_system: str = ""
    """The system prompt; empty means none."""
    aligned_system: str = ""
    base_name: str = ""
    """The name the user knows the model by (models.toml's); empty means the GGUF's own."""
    aligned_name: str = ""

    def model(self, side: Side) -> Backend:
        return self.base if side == "base" else self.aligned

    def template(self, side: Side, name: str | None = None) -> Template:
        """The side's template (or the named one), resolved against its model.

        Raises:
            TemplateError: the name is unknown or the template does not compile.
        """
        model = self.model(side)
        chosen = name or (self.base_template if side == "base" else self.aligned_template)
        if chosen == "default":
            return default_template(model.info, model.vocab).template
        return resolve_template(chosen, model.info, model.vocab)

    def system(self, side: Side) -> str:
        return self.base_system if side == "base" else self.aligned_system

    def name(self, side: Side) -> str:
        given = self.base_name if side == "base" else self.aligned_name
        return given or self.model(side).info.name

    def shared_vocab(self) -> bool:
        a, b = self.base.vocab, self.aligned.vocab
        return a.size == b.size and a.pieces == b.pieces


@dataclass(frozen=True)
class Prompt:
    text: str
    ids: tuple[int, ...]
    template: str
    stop: tuple[str, ...] = ()
    """The layout's own end markers (URIAL's '# Query'); used only where a lesson says so."""


def render_prompt(
    pair: LessonPair,
    side: Side,
    messages: Sequence[Message],
    *,
    template: str | None = None,
    add_generation_prompt: bool = True,
) -> Prompt:
    """The exact prompt one side sees: its system prompt, the messages, its template.

    Args:
        template: a template name instead of the side's own.

    Raises:
        TemplateError: the template refused the conversation.
    """
    model = pair.model(side)
    tpl = pair.template(side, template)
    system = pair.system(side)
    full = [{"role": "system", "content": system}, *messages] if system else list(messages)
    tok = LlamaTokenizer(model)
    text = tpl.render(full, add_generation_prompt, tok.bos_text, tok.eos_text)
    ids = encode_prompt(tok, text)
    if not ids and model.vocab.bos is not None:
        ids = [model.vocab.bos]  # a model needs one token to predict from
    return Prompt(text, tuple(ids), tpl.name, tuple(tpl.stop))


def question_prompt(
    pair: LessonPair, side: Side, question: str, template: str | None = None
) -> Prompt:
    """One question as a chat turn: exactly the tokens the app gives this side.

    Built by the templates module's `build_prompt` (the app's and the CLI's prompt path), so
    the question is text and only the template's markers are special tokens.

    Raises:
        TemplateProblem: the template refused the conversation.
    """
    settings = PromptSettings(
        template=template or (pair.base_template if side == "base" else pair.aligned_template),
        system=pair.system(side),
    )
    p = build_prompt(pair.model(side), settings, "chat", [], question)
    return Prompt(p.text, tuple(p.ids), p.template, tuple(p.template_stop))


@dataclass(frozen=True)
class Reply:
    """One generated reply, whole."""

    ids: tuple[int, ...]
    """Every generated id, the end-of-generation token included when there was one."""
    text: str
    reason: StopReason
    events: tuple[TokenEvent, ...]

    @property
    def stopped(self) -> bool:
        """Ended on its own: an end-of-generation token."""
        return self.reason is StopReason.EOG

    @property
    def length(self) -> int:
        """Reply tokens, the end-of-generation token not counted."""
        return len(self.ids) - (1 if self.stopped else 0)


def generate(
    pair: LessonPair,
    side: Side,
    prompt: Sequence[int],
    settings: SamplerSettings,
    max_tokens: int,
    *,
    stop: Sequence[str] = (),
    cancel: Callable[[], bool] | None = None,
    top_k: int = 3,
) -> Reply:
    """Generate one reply.

    Raises:
        LessonCancelled: `cancel()` turned true.
        EngineError: the engine failed (prompt too long, decode error).
    """
    model = pair.model(side)
    events: list[TokenEvent] = []
    done: Finished | None = None
    for item in model.stream(
        prompt,
        settings=settings,
        max_tokens=max_tokens,
        stop=stop,
        top_k=top_k,
        cancel=cancel,
    ):
        if isinstance(item, TokenEvent):
            events.append(item)
        else:
            done = item
    assert done is not None
    if done.reason is StopReason.CANCELLED:
        raise LessonCancelled()
    return Reply(tuple(e.id for e in events), done.text, done.reason, tuple(events))


class Steps:
    """Counts a lesson's steps and reports them; checks for cancellation at each one."""

    def __init__(
        self, total: int, progress: ProgressFn | None, cancel: Callable[[], bool] | None
    ) -> None:
        self.total = max(1, total)
        self.done = 0
        self._progress = progress
        self.cancel = cancel

    def start(self, what: str) -> None:
        """Say what runs next (before it runs)."""
        if self.cancel is not None and self.cancel():
            raise LessonCancelled()
        if self._progress is not None:
            self._progress(self.done, self.total, what)

    def finish(self, what: str = "") -> None:
        self.done = min(self.total, self.done + 1)
        if self._progress is not None:
            self._progress(self.done, self.total, what)
