"""The sampler driven by the real engine on real GGUF files: seeds, live changes, tricks.

The tiny base model rambles " the cat sat on a mat" forever; the tiny aligned one replies
a fixed sentence and ends with <|im_end|>. That makes every effect of a setting visible.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from playground.engine.llama.factory import factory_for, make_sampler
from playground.engine.llama.model import LlamaModel
from playground.engine.llama.sampler import Sampler, SamplerContext
from playground.engine.llama.tricks import ADAPTER_TOKEN_STYLE, find_turn_start
from playground.engine.settings import SamplerSettings
from playground.engine.trace import SampleTrace
from playground.engine.types import Finished, StopReason, TokenEvent
from playground.sampling.presets import ADAPTER
from tests.tiny_gguf import (
    ALIGNED_REPLY,
    BASE_CYCLE,
    BOS,
    CJK_PIECE,
    IM_END,
    IM_START,
    NEWLINE,
    token_id,
)

ASSISTANT_PROMPT = [BOS, IM_START, token_id("assistant"), NEWLINE]


def events(model: LlamaModel, prompt: list[int], **kw: object) -> list[TokenEvent]:
    out = list(model.stream(prompt, make_sampler=make_sampler, **kw))  # type: ignore[arg-type]
    assert isinstance(out[-1], Finished)
    return [e for e in out if isinstance(e, TokenEvent)]


def finish(model: LlamaModel, prompt: list[int], **kw: object) -> Finished:
    out = list(model.stream(prompt, make_sampler=make_sampler, **kw))  # type: ignore[arg-type]
    last = out[-1]
    assert isinstance(last, Finished)
    return last


def test_same_seed_same_tokens_tiny(tiny_base: LlamaModel) -> None:
    s = SamplerSettings(temperature=2.0, seed=1234)
    a = [e.id for e in events(tiny_base, [BOS, NEWLINE], settings=s, max_tokens=40)]
    b = [e.id for e in events(tiny_base, [BOS, NEWLINE], settings=s, max_tokens=40)]
    assert a == b
    # the draw is really random: other seeds give other replies, and leave the cycle
    others = [
        [e.id for e in events(tiny_base, [BOS, NEWLINE], settings=s.replace(seed=k), max_tokens=40)]
        for k in (1, 2, 3)
    ]
    assert any(o != a for o in others)
    assert any(t not in BASE_CYCLE for o in others for t in o)


def test_same_seed_same_tokens_smollm2(smollm2: LlamaModel) -> None:
    prompt = smollm2.tokenize(
        "<|im_start|>user\nTell me a story.<|im_end|>\n<|im_start|>assistant\n", add_bos=False
    )
    s = SamplerSettings(temperature=1.0, top_k=40, top_p=0.95, min_p=0.05, seed=7)
    a = [e.id for e in events(smollm2, prompt, settings=s, max_tokens=16)]
    b = [e.id for e in events(smollm2, prompt, settings=s, max_tokens=16)]
    assert a == b and len(a) == 16


def flip_after(
    k: int, first: SamplerSettings, then: SamplerSettings
) -> tuple[Callable[[], SamplerSettings], Callable[[TokenEvent], None]]:
    """A settings source that switches once the consumer has seen token k."""
    state = {"seen": -1}

    def source() -> SamplerSettings:
        return then if state["seen"] >= k else first

    def saw(ev: TokenEvent) -> None:
        state["seen"] = ev.index

    return source, saw


@pytest.mark.parametrize("k", [0, 3, 7])
def test_mid_stream_logit_bias_applies_from_next_token(tiny_base: LlamaModel, k: int) -> None:
    first = SamplerSettings()
    then = SamplerSettings(logit_bias=((CJK_PIECE, 100.0),))
    source, saw = flip_after(k, first, then)
    got: list[TokenEvent] = []
    for item in tiny_base.stream(
        [BOS, NEWLINE], settings=source, max_tokens=k + 4, make_sampler=make_sampler
    ):
        if isinstance(item, TokenEvent):
            got.append(item)
            saw(item)
    assert [e.id for e in got[: k + 1]] == [BASE_CYCLE[i % 6] for i in range(k + 1)]
    assert all(e.id == CJK_PIECE for e in got[k + 1 :])
    for e in got:
        assert isinstance(e.trace, SampleTrace)
        assert e.trace.settings is (first if e.index <= k else then)
    assert got[k + 1].trace.moved_by("logit bias") == 100.0


def test_mid_stream_ban_eos_keeps_aligned_model_talking(tiny_aligned: LlamaModel) -> None:
    plain = finish(tiny_aligned, ASSISTANT_PROMPT, max_tokens=30)
    assert plain.reason is StopReason.EOG
    assert plain.tokens == len(ALIGNED_REPLY) + 1
    source, saw = flip_after(2, SamplerSettings(), SamplerSettings(ban_eos=True))
    got: list[TokenEvent] = []
    last: Finished | None = None
    for item in tiny_aligned.stream(
        ASSISTANT_PROMPT, settings=source, max_tokens=30, make_sampler=make_sampler
    ):
        if isinstance(item, TokenEvent):
            got.append(item)
            saw(item)
        else:
            last = item
    assert last is not None and last.reason is StopReason.MAX_TOKENS
    assert [e.id for e in got[: len(ALIGNED_REPLY)]] == list(ALIGNED_REPLY)
    assert not any(e.is_eog for e in got)
    # where the model wanted to stop, the ban is what the trace shows as the biggest move
    stop_at = got[len(ALIGNED_REPLY)]
    assert stop_at.trace.biggest is not None and stop_at.trace.biggest.name == "ban eos"
    assert stop_at.top[0].id == IM_END  # the raw top choice was the end of turn


def test_eos_boost_constant_stops_the_base_model(tiny_base: LlamaModel) -> None:
    got = events(tiny_base, [BOS, NEWLINE], settings=SamplerSettings(eos_bias=40.0), max_tokens=5)
    assert len(got) == 1 and got[0].is_eog
    assert got[0].trace.moved_by("eos boost") == 40.0
    # every end-of-generation id got +40: they share nearly all the mass, the argmax most
    n_eog = len(tiny_base.vocab.eog)
    assert got[0].trace.prob_after >= 1.0 / n_eog > 0.01 > got[0].trace.prob_before


def test_eos_ramp_stops_the_rambler_before_250(tiny_base: LlamaModel) -> None:
    s = SamplerSettings(eos_ramp=0.06)
    got = events(tiny_base, [BOS, NEWLINE], settings=s, max_tokens=260)
    end = got[-1]
    assert end.is_eog
    length = end.index  # L: reply tokens before this one
    assert 0 < length < 250
    assert end.trace.moved_by("eos boost") == pytest.approx(0.06 * length)
    # without the ramp the same model never stops
    assert finish(tiny_base, [BOS, NEWLINE], max_tokens=260).reason is not StopReason.EOG


def test_prob_before_is_the_raw_softmax(tiny_base: LlamaModel) -> None:
    s = SamplerSettings(temperature=0.9, top_k=5, seed=3, repeat_penalty=1.3)
    for e in events(tiny_base, [BOS, NEWLINE], settings=s, max_tokens=12):
        assert e.trace.prob_before == pytest.approx(math.exp(e.logprob), rel=1e-4)
        assert 0.0 < e.prob_after <= 1.0
        assert e.trace.candidates <= 5


def test_diversity_counts_each_token_of_the_turn_once(tiny_base: LlamaModel) -> None:
    s = SamplerSettings(diversity=1.5)
    got = events(tiny_base, [BOS, NEWLINE], settings=s, max_tokens=12)
    first_lap, second_lap = got[:6], got[6:]
    assert [e.id for e in got] == [BASE_CYCLE[i % 6] for i in range(12)]
    assert all(e.trace.moved_by("diversity") == 0.0 for e in first_lap)
    assert all(e.trace.moved_by("diversity") == -1.5 for e in second_lap)


def test_turn_start_found_from_chat_markers(gemma: LlamaModel) -> None:
    text = (
        "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n"
        "<start_of_turn>user\nName a colour.<end_of_turn>\n<start_of_turn>model\n"
    )
    prompt = gemma.tokenize(text, add_bos=True)
    start = find_turn_start(prompt, gemma.vocab)
    sot = gemma.tokenize("<start_of_turn>")[0]
    assert prompt[start] == sot
    assert gemma.detokenize(prompt[start:]).startswith(b"<start_of_turn>user\nName")
    plain = gemma.tokenize("Name a colour.", add_bos=True)
    assert find_turn_start(plain, gemma.vocab) == 1  # after BOS


def test_token_style_rule_maps_by_text(gemma: LlamaModel, tiny_base: LlamaModel) -> None:
    from playground.engine.llama.tricks import llama2_piece_text, style_map

    for model in (gemma, tiny_base):
        sm = style_map(model.vocab)
        pieces = set(model.vocab.pieces)
        for piece, ids in sm.mapped:
            assert all(model.vocab.pieces[i] == llama2_piece_text(piece) for i in ids)
        for piece in sm.skipped:
            assert llama2_piece_text(piece) not in pieces
        assert len(sm.mapped) + len(sm.skipped) == len(ADAPTER_TOKEN_STYLE)
    assert style_map(gemma.vocab).skipped == ()
    tiny = style_map(tiny_base.vocab)
    assert tiny.skipped, "the tiny vocabulary lacks e.g. ' should'"
    note = tiny.note()
    assert note is not None and "not tokens here" in note
    s = Sampler(ADAPTER, tiny_base.vocab)
    assert note in s.notes
    s.close()


def test_adapter_greedy_matches_its_definition(gemma: LlamaModel) -> None:
    """log_softmax(logits) + the three rules, greedy: checked against a dense restatement."""
    prompt = gemma.tokenize(
        "<start_of_turn>user\nWhat should I cook?<end_of_turn>\n<start_of_turn>model\n",
        add_bos=True,
    )
    reply = gemma.tokenize("I think you should", add_bos=False)
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, gemma.vocab.size).astype(np.float32)
    logits[list(gemma.vocab.eog)] += 6.0
    sampler = Sampler(ADAPTER, gemma.vocab, SamplerContext(prompt=prompt, generated=reply))
    drawn = sampler.sample(logits)
    sampler.close()
    # dense restatement, independent of the sparse code
    x = logits.astype(np.float64)
    lp = x - (x.max() + np.log(np.exp(x - x.max()).sum()))
    bias = np.zeros_like(lp)
    pieces = gemma.vocab.pieces
    for piece, value in ADAPTER_TOKEN_STYLE:
        text = b"\n" if piece == "<0x0A>" else piece.replace("▁", " ").encode()
        for i, p in enumerate(pieces):
            if p == text:
                bias[i] += value
    turn = prompt[find_turn_start(prompt, gemma.vocab) :]
    for t in set(turn) | set(reply):
        bias[t] -= 1.5
    for t in gemma.vocab.eog:
        bias[t] += 0.06 * len(reply)
    final = lp + bias
    want = int(np.argmax(final))
    p_want = float(np.exp(final[want] - np.log(np.exp(final - final.max()).sum()) - final.max()))
    assert drawn.token == want
    assert drawn.prob_after == pytest.approx(p_want, rel=1e-3)


def test_dry_needs_the_model_and_then_runs(gemma: LlamaModel) -> None:
    s = SamplerSettings(dry_multiplier=0.8, temperature=0.0)
    prompt = gemma.tokenize("one two three one two three one two", add_bos=True)
    plain = Sampler(s, gemma.vocab, SamplerContext(prompt=prompt))
    assert any("DRY is off" in n for n in plain.notes)
    plain.close()
    full = factory_for(gemma)(s.replace(penalty_source="prompt+reply"), gemma.vocab, prompt, [])
    assert not full.notes
    # DRY penalises continuing the repeat: " three" loses logit against plain greedy
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 1, gemma.vocab.size).astype(np.float32)
    three = gemma.tokenize(" three")[0]
    logits[three] = 20.0
    drawn = full.sample(logits)
    full.close()
    assert drawn.trace.prob_after < drawn.trace.prob_before or drawn.token != three
