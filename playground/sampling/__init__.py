"""Sampling: llama.cpp's sampler chain, the tricks that make a base model act aligned,
presets, and the CLI flags for all of it.

`make_sampler` (or `factory_for(model)`, which adds DRY and tokenized text biases) is the
factory to pass to `LlamaModel.stream(..., make_sampler=...)`.
"""

from __future__ import annotations

from playground.sampling.chain import Sampled, Sampler, SamplerContext
from playground.sampling.factory import SamplerFactory, factory_for, make_sampler
from playground.sampling.presets import BUILTIN_PRESETS, load_user_presets, save_user_preset
from playground.sampling.settings import SamplerSettings
from playground.sampling.trace import SampleTrace, TrickMove

__all__ = [
    "BUILTIN_PRESETS",
    "SampleTrace",
    "Sampled",
    "Sampler",
    "SamplerContext",
    "SamplerFactory",
    "SamplerSettings",
    "TrickMove",
    "factory_for",
    "load_user_presets",
    "make_sampler",
    "save_user_preset",
]
