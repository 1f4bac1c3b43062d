"""Sampling, as the user sets it: presets, the CLI flags, and plain statements of the samplers.

The settings value itself (`SamplerSettings`) and the trace of what the sampler did
(`SampleTrace`) are part of the backend contract, in `playground.engine`; each backend turns
them into its own sampler (the in-process one into llama.cpp's chain, in
`playground.engine.llama.sampler`).
"""

from __future__ import annotations

from playground.engine.settings import SamplerSettings
from playground.engine.trace import SampleTrace, TrickMove
from playground.sampling.presets import BUILTIN_PRESETS, load_user_presets, save_user_preset

__all__ = [
    "BUILTIN_PRESETS",
    "SampleTrace",
    "SamplerSettings",
    "TrickMove",
    "load_user_presets",
    "save_user_preset",
]
