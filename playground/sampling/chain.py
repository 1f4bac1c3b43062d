"""The sampler: llama.cpp's own sampler chain, applied to logits the engine already holds.

The engine reads each position's logits zero-copy and hands them here. Using llama.cpp's
samplers (not a re-implementation) keeps the semantics exactly llama.cpp's.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

import numpy as np

from playground.engine.topk import FloatArray
from playground.sampling.settings import SamplerSettings

_TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])


@dataclass(frozen=True, slots=True)
class Sampled:
    token: int
    prob_after: float
    """The token's probability in the distribution the final draw used."""
    trace: Any = None


class Sampler:
    """Draws one token per call. Not thread-safe: one per generation."""

    def __init__(self, settings: SamplerSettings, n_vocab: int) -> None:
        import llama_cpp

        self.settings = settings
        self._lc = llama_cpp
        self._n = n_vocab
        self._chain: Any = None
        if settings.greedy:
            return
        params = llama_cpp.llama_sampler_chain_default_params()
        chain = llama_cpp.llama_sampler_chain_init(params)
        add = llama_cpp.llama_sampler_chain_add
        if settings.top_k > 0:
            add(chain, llama_cpp.llama_sampler_init_top_k(settings.top_k))
        if settings.top_p < 1.0:
            add(chain, llama_cpp.llama_sampler_init_top_p(settings.top_p, 1))
        add(chain, llama_cpp.llama_sampler_init_temp(settings.temperature))
        add(chain, llama_cpp.llama_sampler_init_dist(settings.seed))
        self._chain = chain
        self._cdata = (llama_cpp.llama_token_data * n_vocab)()
        self._data = np.frombuffer(memoryview(self._cdata), dtype=_TOKEN_DATA)
        self._ids = np.arange(n_vocab, dtype=np.int32)
        self._array = llama_cpp.llama_token_data_array(
            data=self._cdata, size=n_vocab, selected=-1, sorted=False
        )

    def sample(self, logits: FloatArray) -> Sampled:
        if self._chain is None:
            return Sampled(int(np.argmax(logits)), 1.0)
        data = self._data
        data["id"] = self._ids
        data["logit"] = logits
        data["p"] = 0.0
        arr = self._array
        arr.data = self._cdata
        arr.size = self._n
        arr.selected = -1
        arr.sorted = False
        self._lc.llama_sampler_apply(self._chain, ctypes.byref(arr))
        # Read through arr.data: a sampler may point the array at its own buffer.
        item = arr.data[int(arr.selected)]
        return Sampled(int(item.id), float(item.p))

    def accept(self, token: int) -> None:
        if self._chain is not None:
            self._lc.llama_sampler_accept(self._chain, token)

    def close(self) -> None:
        if self._chain is not None:
            self._lc.llama_sampler_free(self._chain)
            self._chain = None

    def __del__(self) -> None:
        self.close()
