"""The sampler factory the in-process backend calls: at the start, and on every settings change.

`LlamaModel.stream(..., make_sampler=...)` calls the factory with (settings, vocab, prompt,
generated so far). A new settings object mid-stream gets a new sampler, primed with the
history, so the change applies from the next token. DRY needs llama.cpp's vocab pointer and
a text logit bias may need the tokenizer: `factory_for(model)` binds both; the plain
`make_sampler` works without them (DRY is then reported off in the trace's notes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from playground.engine.llama.sampler import Sampler, SamplerContext
from playground.engine.settings import SamplerSettings
from playground.engine.vocab import Vocab

if TYPE_CHECKING:
    from playground.engine.llama.model import LlamaModel


@dataclass(frozen=True)
class SamplerFactory:
    """Builds a Sampler for the engine; holds what the engine's call does not pass."""

    vocab_ptr: Any = None
    n_ctx_train: int = 0
    tokenize: Callable[[str], Sequence[int]] | None = None
    turn_start: int | None = None
    """Where the user's turn begins in the prompt; None finds it from chat markers."""

    def __call__(
        self,
        settings: SamplerSettings,
        vocab: Vocab,
        prompt: Sequence[int],
        generated: Sequence[int],
    ) -> Sampler:
        return Sampler(
            settings,
            vocab,
            SamplerContext(
                prompt=prompt,
                generated=tuple(generated),
                turn_start=self.turn_start,
                vocab_ptr=self.vocab_ptr,
                n_ctx_train=self.n_ctx_train,
                tokenize=self.tokenize,
            ),
        )


make_sampler = SamplerFactory()
"""The factory without a model at hand: everything but DRY and tokenized text biases."""


def factory_for(model: LlamaModel, turn_start: int | None = None) -> SamplerFactory:
    """The full factory for one loaded LlamaModel (DRY and text biases included)."""

    def tokenize(text: str) -> Sequence[int]:
        ids: Sequence[int] = model.tokenize(text, special=False, add_bos=False)
        return ids

    return SamplerFactory(
        vocab_ptr=model._vocab_ptr,
        n_ctx_train=int(model.info.n_ctx_train),
        tokenize=tokenize,
        turn_start=turn_start,
    )
