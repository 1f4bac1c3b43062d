"""Sampler settings: one frozen value per model, swapped whole when the user changes it."""

from __future__ import annotations

from dataclasses import dataclass

RANDOM_SEED = 0xFFFFFFFF
"""llama.cpp's LLAMA_DEFAULT_SEED: draw a fresh seed per generation."""


@dataclass(frozen=True)
class SamplerSettings:
    """What turns logits into a token. The semantics are llama.cpp's."""

    temperature: float = 0.0
    """0 (or below) means greedy: always the most likely token."""
    top_k: int = 0
    """Keep the k most likely tokens; 0 keeps all."""
    top_p: float = 1.0
    """Nucleus: keep the smallest set whose probability reaches top_p; 1.0 keeps all."""
    seed: int = RANDOM_SEED
    """Seed of the final draw; RANDOM_SEED picks a new one each time."""

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0
