"""The random draw: whichever way it runs, tokens come from softmax(logits / T).

With temperature alone the sampler draws in numpy (llama.cpp's dist sampler costs a
quarter of a decode step at 262k tokens); with truncation it uses llama.cpp's chain. Both
must follow the same distribution as llama.cpp's own temp + dist samplers.
"""

from __future__ import annotations

import numpy as np
import pytest

from playground.engine.llama.sampler import Sampler, SamplerContext
from playground.engine.settings import SamplerSettings

N_DRAWS = 20_000


def reference(logits: np.ndarray, temperature: float) -> np.ndarray:
    z = logits.astype(np.float64) / temperature
    p = np.exp(z - z.max())
    return p / p.sum()


def llama_cpp_frequencies(logits: np.ndarray, temperature: float, seed: int) -> np.ndarray:
    """llama.cpp's own temp + dist chain, drawn N_DRAWS times."""
    import ctypes

    import llama_cpp

    n = logits.shape[0]
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_temp(temperature))
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_dist(seed))
    data = (llama_cpp.llama_token_data * n)()
    counts = np.zeros(n)
    for _ in range(N_DRAWS):
        for i in range(n):
            data[i].id = i
            data[i].logit = float(logits[i])
            data[i].p = 0.0
        arr = llama_cpp.llama_token_data_array(data=data, size=n, selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(chain, ctypes.byref(arr))
        counts[arr.data[arr.selected].id] += 1
    llama_cpp.llama_sampler_free(chain)
    return counts / N_DRAWS


def playground_frequencies(logits: np.ndarray, s: SamplerSettings) -> tuple[np.ndarray, float]:
    sampler = Sampler(s, logits.shape[0], SamplerContext())
    counts = np.zeros(logits.shape[0])
    worst = 0.0
    want = reference(logits, s.temperature)
    try:
        for _ in range(N_DRAWS):
            drawn = sampler.sample(logits)
            counts[drawn.token] += 1
            worst = max(worst, abs(drawn.prob_after - want[drawn.token]))
    finally:
        sampler.close()
    return counts / N_DRAWS, worst


@pytest.mark.parametrize("temperature", [0.5, 1.0, 1.7])
def test_numpy_draw_follows_llama_cpp_distribution(temperature: float) -> None:
    rng = np.random.default_rng(7)
    logits = (rng.standard_normal(40) * 2.0).astype(np.float32)
    want = reference(logits, temperature)
    ours, worst_p = playground_frequencies(
        logits, SamplerSettings(temperature=temperature, seed=11)
    )
    theirs = llama_cpp_frequencies(logits, temperature, seed=11)
    # total variation from the exact distribution: about sqrt(n / N_DRAWS) / 2 by chance
    assert 0.5 * np.abs(ours - want).sum() < 0.04
    assert 0.5 * np.abs(theirs - want).sum() < 0.04
    assert worst_p < 1e-5  # the reported probability is the distribution's own


def test_numpy_draw_is_seeded() -> None:
    logits = np.random.default_rng(3).standard_normal(1000).astype(np.float32)
    s = SamplerSettings(temperature=1.0, seed=5)

    def draws(settings: SamplerSettings) -> list[int]:
        sampler = Sampler(settings, 1000, SamplerContext())
        out = [sampler.sample(logits).token for _ in range(50)]
        sampler.close()
        return out

    assert draws(s) == draws(s)
    assert draws(s) != draws(SamplerSettings(temperature=1.0, seed=6))


def test_draw_across_many_blocks_follows_the_distribution() -> None:
    """Mass on 20 tokens spread over a 5000-token vocabulary (ten 512-token blocks): the
    blocked inverse CDF must find each one at its own rate, the block edges included."""
    n = 5000
    logits = np.full(n, -30.0, dtype=np.float32)
    heavy = np.array(
        [
            0,
            511,
            512,
            1023,
            1024,
            2047,
            2500,
            3071,
            3072,
            4095,
            4096,
            4999,
            100,
            700,
            1500,
            1800,
            2900,
            3500,
            4200,
            4600,
        ]
    )
    logits[heavy] = np.linspace(0.0, 2.0, heavy.size, dtype=np.float32)
    want = reference(logits, 1.0)
    ours, worst_p = playground_frequencies(logits, SamplerSettings(temperature=1.0, seed=3))
    assert 0.5 * np.abs(ours - want).sum() < 0.03
    assert set(np.flatnonzero(ours)) <= set(heavy.tolist())
    assert worst_p < 1e-5
