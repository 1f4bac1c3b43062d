"""The backend contract: what the app, the CLI, the analysis and the lessons may ask of a model.

A backend is one loaded language model behind some engine: llama.cpp in this process
(`playground.engine.llama`), or a server over HTTP (llama-server, vLLM). Everything above the
engine holds a `Backend`, never a concrete class, so a model on a GPU box drives the same
screens and reports as one on this laptop.

What a backend can do differs, and the difference is data: each backend carries a
`Capabilities` value, and callers read its flags before they ask (harlequin's
`implements_*`, llm's `can_stream`). A caller never discovers a missing feature by catching an
exception; the UI greys out what a backend lacks and shows `Capabilities.why_not(...)`. A
backend that is asked anyway raises `Unsupported`, so nothing is silently ignored.

Generation is a stream of the typed events in `playground.engine.types`: one `TokenEvent` per
token, then one `Finished`. Errors are the `EngineError` subclasses of
`playground.engine.errors`, each worded for the user.

Adding a backend: implement every member of `Backend`, declare its `Capabilities`, add its
factory to `playground.config.registry.open_model`, and add one line to the `BACKENDS` table
of tests/contract/conftest.py, so the whole contract suite runs against it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from playground.engine.errors import EngineError
from playground.engine.settings import SamplerSettings
from playground.engine.topk import FloatArray
from playground.engine.types import ModelInfo, ScoredToken, StreamItem
from playground.engine.vocab import Vocab

SettingsSource = SamplerSettings | Callable[[], SamplerSettings]
"""Fixed settings, or a callable the backend reads before every token (live changes; only
where `Capabilities.live_sampler_changes`)."""

CancelCheck = Callable[[], bool]
"""Polled between tokens: True stops the stream with StopReason.CANCELLED."""

TRICK_FIELDS: frozenset[str] = frozenset(
    {"eos_bias", "eos_ramp", "eos_ramp_end", "ban_eos", "token_style", "diversity"}
)
"""The settings that act on the raw logits (the playground's own tricks): a backend honours
them only with `Capabilities.logit_tricks`."""

ALL_SETTINGS: frozenset[str] = frozenset(f.name for f in dataclasses.fields(SamplerSettings))
"""Every SamplerSettings field."""

CALLER_FIELDS: frozenset[str] = frozenset({"max_tokens", "stop", "urial_prompt"})
"""Fields the caller reads and passes on (or acts on) itself: every backend honours them."""

CAPABILITY_NAMES: tuple[str, ...] = (
    "full_vocab_ranks",
    "score_text",
    "live_sampler_changes",
    "logit_tricks",
    "logit_rows",
    "kv_reuse",
    "sampler_trace",
    "special_text_as_plain",
)
"""The boolean flags of `Capabilities`, in the order the Models panel lists them."""

CAPABILITY_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "full_vocab_ranks": "ranks over the full vocabulary",
        "score_text": "scoring a given text",
        "live_sampler_changes": "live sampler changes",
        "logit_tricks": "logit-level tricks (EOS boost, ban EOS, the adapter's rules)",
        "logit_rows": "full next-token distributions (KL between the models)",
        "kv_reuse": "reuse of the previous prompt's cache",
        "sampler_trace": "a record of what the sampler did to each token",
        "special_text_as_plain": "tokenizing special-token text as plain text",
    }
)
"""What each flag means, in words for the user."""


class Unsupported(EngineError):
    """A backend was asked for something its capabilities say it cannot do."""

    def __init__(self, backend: str, what: str, reason: str) -> None:
        super().__init__(
            f"{backend} cannot do {what}: {reason}. Fix: turn it off for this model, or run "
            "the model in-process (a GGUF file in models.toml) where every feature is available."
        )
        self.backend = backend
        self.what = what
        self.reason = reason


@dataclass(frozen=True)
class Capabilities:
    """What one backend can do: data the callers read before they ask.

    Each False flag (and each setting left out of `settings`) should have a reason in
    `reasons`, keyed by the flag's or the setting's name; the UI shows it beside the greyed-out
    control.
    """

    max_top_k: int
    """The largest top-k that `stream` and `score` return (the vocabulary size when
    unlimited)."""
    full_vocab_ranks: bool = True
    """`score` ranks each token over the whole vocabulary. When False, a token outside the
    top `max_top_k` gets `ScoredToken.rank_exact = False` and rank max_top_k + 1 (">k")."""
    score_text: bool = True
    """`score` works: a given continuation is teacher-forced and scored."""
    live_sampler_changes: bool = True
    """`stream` accepts a settings callable and applies a change from the next token."""
    logit_tricks: bool = True
    """The settings in TRICK_FIELDS are honoured (they need the raw logits)."""
    logit_rows: bool = True
    """`score(row_hook=...)` hands over every position's full logits row (the KL between two
    models needs it)."""
    kv_reuse: bool = True
    """The cache of the previous call is reused for a common prompt prefix."""
    sampler_trace: bool = True
    """Each TokenEvent carries a SampleTrace (what the tricks and the chain did to it)."""
    special_text_as_plain: bool = True
    """`tokenize(special=False)` tokenizes special-token text such as `<|im_start|>` as plain
    text. When False, such a text raises Unsupported (the server always parses it)."""
    settings: frozenset[str] = ALL_SETTINGS
    """The SamplerSettings fields the backend honours; a field outside it must stay at its
    default, or `stream` raises Unsupported."""
    reasons: Mapping[str, str] = field(default_factory=dict)
    """Why a flag is False or a setting unsupported, keyed by its name."""

    def supports(self, name: str) -> bool:
        """Whether a capability flag is on, or a SamplerSettings field is honoured."""
        if name in CAPABILITY_NAMES:
            return bool(getattr(self, name))
        if name in ALL_SETTINGS:
            return name in self.settings or name in CALLER_FIELDS
        raise KeyError(f"no capability or setting named {name!r}")

    def why_not(self, name: str) -> str | None:
        """None when `name` is supported, else the reason to show beside the greyed control.

        Args:
            name: a flag in CAPABILITY_NAMES or a SamplerSettings field.

        Raises:
            KeyError: `name` is neither.
        """
        if self.supports(name):
            return None
        if name in self.reasons:
            return self.reasons[name]
        if name in TRICK_FIELDS and "logit_tricks" in self.reasons:
            return self.reasons["logit_tricks"]
        label = CAPABILITY_LABELS.get(name, name)
        return f"this backend does not support {label}"

    def unsupported_settings(self, settings: SamplerSettings) -> tuple[str, ...]:
        """The fields of `settings` that differ from the defaults but are not honoured here."""
        base = SamplerSettings()
        return tuple(
            f.name
            for f in dataclasses.fields(settings)
            if not self.supports(f.name) and getattr(settings, f.name) != getattr(base, f.name)
        )

    def check_settings(self, backend: str, settings: SamplerSettings) -> None:
        """Raise Unsupported for the first non-default setting this backend ignores.

        Raises:
            Unsupported: a setting outside `settings` is not at its default.
        """
        ignored = self.unsupported_settings(settings)
        if ignored:
            name = ignored[0]
            raise Unsupported(backend, f"the sampler setting {name}", self.why_not(name) or "")


def in_process_capabilities(n_vocab: int) -> Capabilities:
    """An engine that sees every logit: every capability, top-k up to the vocabulary."""
    return Capabilities(max_top_k=n_vocab)


RowHook = Callable[[int, FloatArray, float], None]
"""(continuation index, raw logits row, logsumexp): the row is only valid during the call."""


@runtime_checkable
class Backend(Protocol):
    """One loaded model behind some engine. Not thread-safe: use it from one thread at a time.

    Loading is the backend's factory (see `playground.config.registry.open_model`); a
    constructed backend is ready, and `close()` frees it.
    """

    info: ModelInfo
    """Describes the model: name, architecture, vocabulary size, context, chat template, where
    it runs (`ModelInfo.runs_on`)."""
    vocab: Vocab
    """Every token's exact bytes and kind, and the BOS/EOS/EOT/EOG ids."""
    capabilities: Capabilities
    """What this backend can do; read it before asking."""

    def tokenize(
        self, text: str | bytes, *, special: bool = True, add_bos: bool = False
    ) -> list[int]:
        """Tokenize text (UTF-8 bytes are tokenized as given).

        Args:
            text: the text, or its exact bytes.
            special: parse special-token text such as `<|im_start|>` as the special token;
                False tokenizes it as plain text.
            add_bos: prepend BOS when the model's tokenizer adds one (`vocab.add_bos`).

        Returns:
            The token ids; `detokenize` of them gives back the exact bytes (plus BOS's piece
            when add_bos put one in front).

        Raises:
            EngineError: the backend could not tokenize (e.g. a server is unreachable).
        """
        ...

    def detokenize(self, tokens: Sequence[int]) -> bytes:
        """The exact bytes of a token sequence: the concatenation of each token's piece.

        Returns:
            Bytes, possibly ending inside a UTF-8 character (no lossy decoding here).

        Raises:
            IndexError: a token id outside the vocabulary.
        """
        ...

    def stream(
        self,
        prompt: Sequence[int],
        *,
        settings: SettingsSource = ...,
        max_tokens: int = 256,
        stop: Sequence[str] = (),
        top_k: int = 5,
        cancel: CancelCheck | None = None,
        turn_start: int | None = None,
    ) -> Iterator[StreamItem]:
        """Generate from `prompt`: one TokenEvent per token (with its top-k), then one Finished.

        Args:
            prompt: the prompt's token ids (BOS included where the model wants one).
            settings: the sampler settings, or a callable read before every token (live
                changes; only where `capabilities.live_sampler_changes`).
            max_tokens: the longest reply in tokens.
            stop: the reply ends before the first of these strings (Finished.text is cut).
            top_k: alternatives per token in TokenEvent.top, at most `capabilities.max_top_k`.
            cancel: polled between tokens; True ends the stream with StopReason.CANCELLED.
            turn_start: index in `prompt` where the user's turn begins (the adapter's
                diversity rule); None finds it from the chat markers.

        Returns:
            An iterator; close it (or run it to the end) to release the model.

        Raises:
            PromptTooLong: the prompt leaves no room for one generated token.
            Unsupported: settings the backend cannot honour, a callable settings source
                without live changes, or top_k above max_top_k.
            EngineError: the engine failed (DecodeError in-process, a dropped connection on a
                server); the events already yielded stay valid.
        """
        ...

    def score(
        self,
        context: Sequence[int],
        continuation: Sequence[int],
        *,
        top_k: int = 5,
        row_hook: RowHook | None = None,
    ) -> list[ScoredToken]:
        """Teacher-force `continuation` after `context` and score each continuation token.

        Args:
            context: the ids the continuation follows (at least BOS).
            continuation: the ids to score, one ScoredToken each, in order.
            top_k: alternatives per position, at most `capabilities.max_top_k`.
            row_hook: called with each position's full logits row (only where
                `capabilities.logit_rows`).

        Returns:
            One ScoredToken per continuation token: its log-probability, its rank (exact over
            the vocabulary where `capabilities.full_vocab_ranks`, else possibly ">k") and the
            top-k.

        Raises:
            ValueError: an empty context.
            PromptTooLong: context + continuation exceed the context size.
            Unsupported: scoring (or row_hook) is not available on this backend.
            EngineError: the engine failed.
        """
        ...

    def close(self) -> None:
        """Free the model (or the connection). Idempotent; waits for a running stream."""
        ...


def describe_capabilities(caps: Capabilities) -> list[tuple[str, bool, str]]:
    """(label, supported, reason) per capability flag, for the Models panel and the CLI."""
    rows: list[tuple[str, bool, str]] = [(f"top-k up to {caps.max_top_k}", True, "")]
    for name in CAPABILITY_NAMES:
        reason = caps.why_not(name)
        rows.append((CAPABILITY_LABELS[name], reason is None, reason or ""))
    return rows
