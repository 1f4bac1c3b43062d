"""llama.cpp's own samplers against a plain numpy statement of their semantics.

Random logits (seeded from hypothesis), a random history; each llama.cpp sampler is run on
the logits through its C API and compared with playground.sampling.reference. Cut points
that sit within float32 rounding of a threshold are skipped with `assume`: there the two
may legitimately disagree in the last bit, and the test is about the rule, not rounding.
"""

from __future__ import annotations

from typing import Any

import llama_cpp as lc
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from playground.engine.llama.sampler import Sampler, SamplerContext, apply_llama_sampler
from playground.engine.settings import SamplerSettings
from playground.sampling import reference as ref

EPS = 1e-4

seeds = st.integers(0, 2**32 - 1)
sizes = st.integers(2, 3000)
scales = st.floats(0.1, 8.0)


def make_logits(seed: int, n: int, scale: float) -> np.ndarray[Any, np.dtype[np.float32]]:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, scale, n).astype(np.float32)


def make_history(seed: int, n: int, length: int) -> list[int]:
    rng = np.random.default_rng(seed + 1)
    # a small id range so that tokens repeat
    return [int(x) for x in rng.integers(0, min(n, 40), size=length)]


def run(smpl: Any, logits: np.ndarray, accepted: list[int] | None = None):  # type: ignore[no-untyped-def]
    try:
        return apply_llama_sampler(smpl, logits, accepted or [])
    finally:
        lc.llama_sampler_free(smpl)


def ids_of(n: int) -> np.ndarray[Any, np.dtype[np.int32]]:
    return np.arange(n, dtype=np.int32)


@settings(max_examples=60, deadline=None)
@given(
    seed=seeds,
    n=sizes,
    scale=scales,
    hist_len=st.integers(0, 120),
    last_n=st.sampled_from([1, 8, 64, 200]),
    repeat=st.floats(0.5, 2.0),
    freq=st.floats(-1.0, 1.0),
    presence=st.floats(-1.0, 1.0),
)
def test_penalties_match_llama_cpp(
    seed: int,
    n: int,
    scale: float,
    hist_len: int,
    last_n: int,
    repeat: float,
    freq: float,
    presence: float,
) -> None:
    logits = make_logits(seed, n, scale)
    history = make_history(seed, n, hist_len)
    got = run(lc.llama_sampler_init_penalties(n, last_n, repeat, freq, presence), logits, history)
    want = ref.penalties(ids_of(n), logits, history, last_n, repeat, freq, presence)
    order = np.argsort(got.ids)
    assert got.ids[order].tolist() == list(range(n))
    np.testing.assert_allclose(got.logits[order], want, rtol=1e-6, atol=1e-6)
    # the rule is visible: a seen, positive-logit token went down when repeat > 1
    seen = set(history[-last_n:])
    changed = int(np.count_nonzero(want != logits))
    assert changed <= len(seen)


@settings(max_examples=60, deadline=None)
@given(seed=seeds, n=sizes, scale=scales, k=st.integers(0, 400))
def test_top_k_matches_llama_cpp(seed: int, n: int, scale: float, k: int) -> None:
    logits = make_logits(seed, n, scale)
    got = run(lc.llama_sampler_init_top_k(k), logits)
    want_ids, _ = ref.top_k(ids_of(n), logits, k)
    assert sorted(got.ids.tolist()) == sorted(want_ids.tolist())
    assert len(got.ids) == (min(k, n) if k > 0 else n)


@settings(max_examples=60, deadline=None)
@given(seed=seeds, n=sizes, scale=scales, p=st.floats(0.05, 0.999))
def test_top_p_matches_llama_cpp(seed: int, n: int, scale: float, p: float) -> None:
    logits = make_logits(seed, n, scale)
    cum = np.cumsum(np.sort(ref.softmax(logits))[::-1])
    assume(np.min(np.abs(cum - p)) > EPS)
    got = run(lc.llama_sampler_init_top_p(p, 1), logits)
    want_ids, want_logits = ref.top_p(ids_of(n), logits, p)
    assert sorted(got.ids.tolist()) == sorted(want_ids.tolist())
    # the kept set is the smallest one that reaches p
    kept_mass = ref.softmax(logits)[want_ids].sum()
    assert kept_mass >= p
    assert kept_mass - ref.softmax(logits)[want_ids].min() < p


@settings(max_examples=60, deadline=None)
@given(seed=seeds, n=sizes, scale=scales, p=st.floats(0.001, 0.9))
def test_min_p_matches_llama_cpp(seed: int, n: int, scale: float, p: float) -> None:
    logits = make_logits(seed, n, scale)
    threshold = float(logits.max()) + float(np.log(p))
    assume(np.min(np.abs(logits.astype(np.float64) - threshold)) > EPS)
    got = run(lc.llama_sampler_init_min_p(p, 1), logits)
    want_ids, _ = ref.min_p(ids_of(n), logits, p)
    assert sorted(got.ids.tolist()) == sorted(want_ids.tolist())
    probs = ref.softmax(logits)
    assert np.all(probs[want_ids] >= p * probs.max() * (1 - 1e-3))


@settings(max_examples=60, deadline=None)
@given(seed=seeds, n=sizes, scale=scales, t=st.floats(0.05, 5.0))
def test_temperature_matches_llama_cpp(seed: int, n: int, scale: float, t: float) -> None:
    logits = make_logits(seed, n, scale)
    got = run(lc.llama_sampler_init_temp(t), logits)
    order = np.argsort(got.ids)
    want = ref.temperature(logits, t)
    np.testing.assert_allclose(got.logits[order], want, rtol=1e-6)
    np.testing.assert_allclose(ref.softmax(got.logits[order]), ref.softmax(want), atol=1e-7)


def test_temperature_zero_keeps_only_the_maximum() -> None:
    logits = make_logits(7, 500, 2.0)
    got = run(lc.llama_sampler_init_temp(0.0), logits)
    finite = got.ids[np.isfinite(got.logits)]
    assert finite.tolist() == [int(np.argmax(logits))]
    want = ref.temperature(logits, 0.0)
    assert np.flatnonzero(np.isfinite(want)).tolist() == finite.tolist()


def _reference_chain(
    logits: np.ndarray, history: list[int], s: SamplerSettings
) -> tuple[np.ndarray, np.ndarray] | None:
    """penalties, top-k, top-p, min-p, temperature, softmax; None at a fragile cut."""
    n = logits.shape[0]
    ids = ids_of(n)
    lg = ref.penalties(ids, logits, history, s.penalty_last_n, s.repeat_penalty, 0.0, 0.0)
    ids, lg = ref.top_k(ids, lg, s.top_k)
    cum = np.cumsum(np.sort(ref.softmax(lg))[::-1])
    if np.min(np.abs(cum - s.top_p)) <= EPS:
        return None
    ids, lg = ref.top_p(ids, lg, s.top_p)
    threshold = float(lg.max()) + float(np.log(s.min_p))
    if np.min(np.abs(lg.astype(np.float64) - threshold)) <= EPS:
        return None
    ids, lg = ref.min_p(ids, lg, s.min_p)
    return ids, ref.softmax(ref.temperature(lg, s.temperature))


@settings(max_examples=40, deadline=None)
@given(
    seed=seeds,
    n=st.integers(50, 3000),
    scale=scales,
    k=st.integers(0, 300),
    top_p=st.floats(0.3, 0.99),
    min_p=st.floats(0.001, 0.3),
    temp=st.floats(0.1, 3.0),
    repeat=st.floats(1.0, 1.5),
)
def test_playground_sampler_draws_from_the_reference_distribution(
    seed: int,
    n: int,
    scale: float,
    k: int,
    top_p: float,
    min_p: float,
    temp: float,
    repeat: float,
) -> None:
    """The whole chain as the app runs it (penalties on the touched ids only) leaves the
    reference candidate set, and reports the drawn token's reference probability."""
    logits = make_logits(seed, n, scale)
    history = make_history(seed, n, 30)
    s = SamplerSettings(
        temperature=temp,
        top_k=k,
        top_p=top_p,
        min_p=min_p,
        repeat_penalty=repeat,
        penalty_last_n=64,
        seed=seed,
    )
    want = _reference_chain(logits, history, s)
    assume(want is not None)
    assert want is not None
    want_ids, want_p = want
    sampler = Sampler(s, n, SamplerContext(generated=history))
    try:
        drawn = sampler.sample(logits)
    finally:
        sampler.close()
    assert drawn.trace.candidates == len(want_ids)
    assert drawn.token in set(want_ids.tolist())
    p_ref = float(want_p[want_ids.tolist().index(drawn.token)])
    assert drawn.prob_after == pytest.approx(p_ref, rel=1e-4, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    seed=seeds,
    n=st.integers(50, 3000),
    scale=scales,
    repeat=st.floats(0.8, 1.5),
    freq=st.floats(-0.5, 0.5),
    bias_tok=st.integers(0, 49),
    bias=st.floats(-5.0, 5.0),
    temp=st.sampled_from([0.0, 0.7]),
)
def test_sparse_penalties_equal_dense_llama_chain(
    seed: int,
    n: int,
    scale: float,
    repeat: float,
    freq: float,
    bias_tok: int,
    bias: float,
    temp: float,
) -> None:
    """Running logit bias and penalties on the touched ids only gives the distribution
    llama.cpp's chain gives over the whole vocabulary (greedy: the same token)."""
    logits = make_logits(seed, n, scale)
    history = make_history(seed, n, 50)
    s = SamplerSettings(
        temperature=temp,
        repeat_penalty=repeat,
        frequency_penalty=freq,
        logit_bias=((bias_tok, bias),),
        seed=seed,
    )
    chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
    lb = (lc.llama_logit_bias * 1)(lc.llama_logit_bias(bias_tok, bias))
    lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_logit_bias(n, 1, lb))
    lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_penalties(n, 64, repeat, freq, 0.0))
    if temp == 0.0:
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_greedy())
    else:
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_temp(temp))
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_dist(seed))
    dense = run(chain, logits, history)
    sampler = Sampler(s, n, SamplerContext(generated=history))
    try:
        drawn = sampler.sample(logits)
    finally:
        sampler.close()
    if temp == 0.0:
        assert drawn.token == int(dense.ids[dense.selected])
    else:
        # temperature alone draws in numpy (see chain.py): same distribution, other RNG,
        # so compare the drawn token's probability with the dense chain's for that token
        p_dense = {int(i): float(p) for i, p in zip(dense.ids, dense.p, strict=True)}
        assert drawn.prob_after == pytest.approx(p_dense[drawn.token], rel=1e-5)
