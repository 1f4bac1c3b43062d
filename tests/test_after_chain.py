"""The probability after the sampler chain, worked out from a server's top-k, against the
in-process sampler that runs llama.cpp's own chain on SmolLM2's full distribution (the tiny
models are too sure of themselves for a chain to matter)."""

from __future__ import annotations

import math

import pytest

from playground.engine.llama.model import LlamaModel
from playground.engine.remote.after_chain import prob_after_chain
from playground.engine.settings import SamplerSettings
from playground.engine.types import TokenEvent, TopEntry

CASES = [
    SamplerSettings(temperature=0.8, top_k=3, seed=7),
    SamplerSettings(temperature=1.3, top_k=0, top_p=0.6, seed=11),
    SamplerSettings(temperature=0.7, top_k=0, min_p=0.2, seed=3),
    SamplerSettings(temperature=1.0, top_k=4, top_p=0.9, min_p=0.05, seed=5),
]


@pytest.mark.demo
@pytest.mark.parametrize("settings", CASES, ids=lambda s: f"T{s.temperature}k{s.top_k}")
def test_the_chain_probability_follows_from_the_top_k(
    smollm2: LlamaModel, settings: SamplerSettings
) -> None:
    prompt = smollm2.tokenize("Here is a list of fruits: apples,")
    events = [
        e
        for e in smollm2.stream(prompt, settings=settings, max_tokens=16, top_k=20)
        if isinstance(e, TokenEvent)
    ]
    known = [
        (got, ev.prob_after)
        for ev in events
        if not math.isnan(got := prob_after_chain(ev.top, ev.id, ev.logprob, settings))
    ]
    assert len(known) >= len(events) // 2  # most positions are decided by a top-20
    assert any(want < 0.95 for _, want in known)  # the chain left a real choice
    for got, want in known:
        assert got == pytest.approx(want, abs=2e-3)


def test_unknown_where_the_list_cannot_decide_it() -> None:
    top = (TopEntry(1, b"a", math.log(0.5)), TopEntry(2, b"b", math.log(0.3)))
    # a temperature with no truncation spreads over the whole vocabulary
    assert math.isnan(prob_after_chain(top, 1, top[0].logprob, SamplerSettings(temperature=1)))
    # top-p 0.95 is not reached by the 0.8 listed
    s = SamplerSettings(temperature=1.0, top_p=0.95)
    assert math.isnan(prob_after_chain(top, 1, top[0].logprob, s))
    # top-p 0.7 is: the kept set is {a, b}, renormalized
    s = SamplerSettings(temperature=1.0, top_p=0.7)
    assert prob_after_chain(top, 2, top[1].logprob, s) == pytest.approx(0.3 / 0.8)
    # a bias can lift a token the list does not show into the kept set
    s = SamplerSettings(temperature=1.0, top_k=2, logit_bias=((5, 2.0),))
    assert math.isnan(prob_after_chain(top, 1, top[0].logprob, s, {5: 2.0}))
    # greedy draws the arg-max of the unchanged distribution
    greedy = SamplerSettings()
    assert prob_after_chain(top, 1, top[0].logprob, greedy) == pytest.approx(0.5)
    # or of the biased one: with 'a' banned, 'b' has 0.3 of the 0.5 left
    ban = {1: -math.inf}
    assert prob_after_chain(top, 2, top[1].logprob, greedy, ban) == pytest.approx(0.6)
    assert math.isnan(prob_after_chain(top, 2, top[1].logprob, greedy, {9: -math.inf}))
