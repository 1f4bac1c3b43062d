"""The typed events and results the engine hands to its callers.

Generation is a stream of frozen dataclasses, so the CLI, the TUI, the analysis and the tests
all consume the same thing and never reach into llama.cpp themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class TokenKind(StrEnum):
    """What kind of vocabulary entry a token is, from llama.cpp's token attributes."""

    NORMAL = "normal"
    CONTROL = "control"
    USER_DEFINED = "user_defined"
    BYTE = "byte"
    UNKNOWN = "unknown"
    UNUSED = "unused"

    @property
    def is_special(self) -> bool:
        """Control and unknown tokens carry structure, not text. A user-defined token is
        text that the tokenizer always keeps whole (Gemma's "\n", "\n\n", ...)."""
        return self in (TokenKind.CONTROL, TokenKind.UNKNOWN)


class StopReason(StrEnum):
    """Why a generation ended."""

    EOG = "eog"
    """The model produced an end-of-generation token (EOS, EOT, <|im_end|>, ...)."""
    MAX_TOKENS = "max_tokens"
    STOP_STRING = "stop"
    CANCELLED = "cancelled"
    CONTEXT_FULL = "context_full"
    """The context window filled up before the model stopped."""


@dataclass(frozen=True, slots=True)
class TopEntry:
    """One alternative in a top-k list."""

    id: int
    piece: bytes
    logprob: float

    @property
    def prob(self) -> float:
        return math.exp(self.logprob)


@dataclass(frozen=True, slots=True)
class TokenEvent:
    """One generated token, as the stream yields it."""

    index: int
    """Position in the reply, from 0."""
    id: int
    piece: bytes
    """The token's exact bytes (special tokens as their text)."""
    kind: TokenKind
    text: str
    """The text this token completes in the reply. Empty while a UTF-8 character is split
    across tokens; the character appears with the token that completes it."""
    logprob: float
    """Log-probability under the model's raw distribution, before any sampler."""
    top: tuple[TopEntry, ...]
    """The top-k over the full vocabulary, before sampling."""
    prob_after: float
    """Probability of this token in the distribution the sampler actually drew from."""
    is_eog: bool = False
    trace: Any = None
    """What the sampler and the tricks did to this token (see playground.sampling)."""

    @property
    def prob(self) -> float:
        return math.exp(self.logprob)

    @property
    def special(self) -> bool:
        return self.kind.is_special or self.is_eog


@dataclass(frozen=True, slots=True)
class Finished:
    """The last item of a stream: why it ended and how fast it ran."""

    reason: StopReason
    tokens: int
    """Tokens generated (the end-of-generation token included when it was produced)."""
    elapsed_s: float
    """Wall time from the first generated token's decode to the end, prompt excluded."""
    text: str
    """The reply text, cut before a stop string when one ended it."""
    prompt_tokens: int
    reused_tokens: int
    """Prompt tokens whose KV cache entries were reused from the previous call."""
    prompt_eval_s: float = 0.0

    @property
    def evaluated_prompt_tokens(self) -> int:
        return self.prompt_tokens - self.reused_tokens

    @property
    def tok_per_s(self) -> float:
        return self.tokens / self.elapsed_s if self.elapsed_s > 0 else 0.0


StreamItem = TokenEvent | Finished


@dataclass(frozen=True, slots=True)
class ScoredToken:
    """One continuation position scored by teacher forcing."""

    id: int
    logprob: float
    rank: int
    """1 + the number of vocabulary entries with a strictly higher logit. When `rank_exact`
    is False the backend only saw its top-k: the true rank is at least this (k + 1)."""
    top: tuple[TopEntry, ...]
    rank_exact: bool = True
    """False when the token fell outside the top-k a backend without full-vocabulary ranks
    returns (see Capabilities.full_vocab_ranks)."""

    @property
    def rank_text(self) -> str:
        """The rank as shown: "3", or ">5" when only a bound is known."""
        return str(self.rank) if self.rank_exact else f">{self.rank - 1}"


@dataclass(frozen=True, slots=True)
class OffloadInfo:
    """What the GPU offload did for one model."""

    supported: bool
    """Whether this llama.cpp build can offload at all (False on a CPU-only build)."""
    requested_layers: int
    """n_gpu_layers as asked (-1 means all)."""
    offloaded_layers: int
    total_layers: int

    def describe(self) -> str:
        if not self.supported:
            if self.requested_layers != 0:
                return (
                    "CPU only: this llama.cpp build has no GPU support, so n_gpu_layers "
                    f"= {self.requested_layers} was ignored. Rebuild with "
                    'CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall '
                    "--no-cache-dir llama-cpp-python"
                )
            return "CPU only (this llama.cpp build has no GPU support)"
        return f"GPU: {self.offloaded_layers}/{self.total_layers} layers offloaded"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Facts about a loaded model that the UI and reports show."""

    path: str
    name: str
    architecture: str
    n_vocab: int
    n_ctx: int
    n_ctx_train: int
    n_threads: int
    chat_template: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    offload: OffloadInfo | None = None
    sliding_window: int = 0
    load_s: float = 0.0
    runs_on: str = "in-process (llama.cpp)"
    """Where the model runs, for the Models panel: in-process, or a server's URL."""
