"""A real in-process model behind the capabilities of a server backend.

llama-server and vLLM return only a top-k per token (no full-vocabulary ranks, no logit
rows), sample on their side (no logit tricks, no trace) and take a request's settings once
(no live changes). This wrapper puts a real LlamaModel behind exactly those limits, and
enforces them as a server backend must: what it cannot do raises Unsupported, and a rank
beyond its top-k comes back as ">k". The contract suite runs on it, so every capability-off
branch of the suite is exercised today, before the real server backends exist.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

from playground.engine.backend import (
    ALL_SETTINGS,
    TRICK_FIELDS,
    CancelCheck,
    Capabilities,
    RowHook,
    SettingsSource,
    Unsupported,
)
from playground.engine.llama import LlamaModel
from playground.engine.settings import SamplerSettings
from playground.engine.types import ScoredToken, StreamItem, TokenEvent

SERVER_TOP_K = 20
"""vLLM's default --max-logprobs."""

REASONS = {
    "full_vocab_ranks": "the server returns only its top 20 per position",
    "live_sampler_changes": "a request's settings are fixed when it is sent",
    "logit_tricks": "the server samples on its side and never shows the logits",
    "logit_rows": "the server returns only its top 20 per position",
    "sampler_trace": "the server samples on its side and reports no trace",
}


class ServerLike:
    """Backend: a LlamaModel limited to what a server backend can do."""

    def __init__(self, inner: LlamaModel) -> None:
        self._inner = inner
        self.vocab = inner.vocab
        self.info = dataclasses.replace(inner.info, runs_on="in-process, server-like (tests)")
        self.capabilities = Capabilities(
            max_top_k=SERVER_TOP_K,
            full_vocab_ranks=False,
            live_sampler_changes=False,
            logit_tricks=False,
            logit_rows=False,
            sampler_trace=False,
            settings=ALL_SETTINGS - TRICK_FIELDS,
            reasons=REASONS,
        )

    def tokenize(
        self, text: str | bytes, *, special: bool = True, add_bos: bool = False
    ) -> list[int]:
        return self._inner.tokenize(text, special=special, add_bos=add_bos)

    def detokenize(self, tokens: Sequence[int]) -> bytes:
        return self._inner.detokenize(tokens)

    def _refuse(self, what: str) -> Unsupported:
        return Unsupported(self.info.name, what, REASONS[what])

    def _check_top_k(self, top_k: int) -> None:
        if top_k > SERVER_TOP_K:
            raise Unsupported(
                self.info.name, f"a top-{top_k}", f"the server's limit is {SERVER_TOP_K}"
            )

    def stream(
        self,
        prompt: Sequence[int],
        *,
        settings: SettingsSource = SamplerSettings(),  # noqa: B008 - frozen, shared on purpose
        max_tokens: int = 256,
        stop: Sequence[str] = (),
        top_k: int = 5,
        cancel: CancelCheck | None = None,
        turn_start: int | None = None,
    ) -> Iterator[StreamItem]:
        if callable(settings):
            raise self._refuse("live_sampler_changes")
        self.capabilities.check_settings(self.info.name, settings)
        self._check_top_k(top_k)
        inner = self._inner.stream(
            prompt, settings=settings, max_tokens=max_tokens, stop=stop, top_k=top_k, cancel=cancel
        )
        return self._without_traces(inner)

    @staticmethod
    def _without_traces(inner: Iterator[StreamItem]) -> Iterator[StreamItem]:
        try:
            for item in inner:
                yield (
                    dataclasses.replace(item, trace=None) if isinstance(item, TokenEvent) else item
                )
        finally:
            close = getattr(inner, "close", None)
            if close is not None:
                close()

    def score(
        self,
        context: Sequence[int],
        continuation: Sequence[int],
        *,
        top_k: int = 5,
        row_hook: RowHook | None = None,
    ) -> list[ScoredToken]:
        if row_hook is not None:
            raise self._refuse("logit_rows")
        self._check_top_k(top_k)
        scored = self._inner.score(context, continuation, top_k=top_k)
        return [
            s
            if s.rank <= SERVER_TOP_K
            else dataclasses.replace(s, rank=SERVER_TOP_K + 1, rank_exact=False)
            for s in scored
        ]

    def close(self) -> None:
        self._inner.close()
