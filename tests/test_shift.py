"""The shift analysis on the tiny same-vocabulary pair, checked against brute force.

The brute force is independent of the engine's scoring: a separate llama.cpp context
decodes the prompt and the reply one token at a time, and the ranks, log-probabilities and
KL are computed from each full logits row with numpy.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from playground.analysis.compare import generate
from playground.analysis.contexts import BaseContext, aligned_prompt, base_prompt
from playground.analysis.shift import (
    ShiftClass,
    TokenShift,
    analyse_reply,
    classify,
    summarize,
)
from playground.engine.llama.model import LlamaModel
from playground.engine.settings import SamplerSettings
from tests.tiny_gguf import ALIGNED_REPLY, BASE_CYCLE, IM_END

F64 = npt.NDArray[np.float64]


def brute_force_logprobs(
    path: Path, tokens: Sequence[int], first: int, *, whole_prefix: bool = False
) -> list[F64]:
    """Log-softmax rows predicting tokens[first:], computed position by position.

    By default one llama_decode per token (a running KV cache). With `whole_prefix`, the
    AlignTDS way: for every position the cache is cleared and the whole prefix is decoded
    again. Quantized models (Gemma's Q4_K) take another matmul path for one-token batches
    and differ by up to ~0.2 in log-prob from batched decodes, so they are checked that way.
    """
    import llama_cpp

    # Flash attention as in the engine: without it an f16 KV cache makes batched and
    # one-by-one decodes differ by up to 0.24 in log-prob (measured on SmolLM2).
    llm = llama_cpp.Llama(
        model_path=str(path),
        n_ctx=256,
        n_batch=256,
        n_ubatch=256,
        flash_attn=True,
        swa_full=True,
        verbose=False,
    )
    try:
        ctx = llm._ctx.ctx
        mem = llama_cpp.llama_get_memory(ctx)
        n_vocab = llm.n_vocab()
        rows: list[F64] = []

        def decode(chunk: Sequence[int]) -> None:
            arr = (ctypes.c_int32 * len(chunk))(*chunk)
            assert llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(arr, len(chunk))) == 0

        for pos in range(len(tokens) - 1):
            if whole_prefix:
                if pos + 1 < first:
                    continue
                llama_cpp.llama_memory_clear(mem, True)
                decode(tokens[: pos + 1])
            else:
                decode(tokens[pos : pos + 1])
            if pos + 1 >= first:
                ptr = llama_cpp.llama_get_logits_ith(ctx, -1)
                logits = np.ctypeslib.as_array(ptr, shape=(n_vocab,)).astype(np.float64)
                m = logits.max()
                rows.append(logits - (m + np.log(np.exp(logits - m).sum())))
        return rows
    finally:
        llm.close()


def test_classes_follow_urials_thresholds() -> None:
    assert [classify(r) for r in (1, 2, 3, 4, 5, 262144)] == [
        ShiftClass.UNSHIFTED,
        ShiftClass.MARGINAL,
        ShiftClass.MARGINAL,
        ShiftClass.SHIFTED,
        ShiftClass.SHIFTED,
        ShiftClass.SHIFTED,
    ]
    with pytest.raises(ValueError):
        classify(0)


def _row(index: int, rank: int) -> TokenShift:
    return TokenShift(
        index=index,
        id=0,
        piece=b"x",
        offset=index,
        special=False,
        producer_logprob=-0.1,
        producer_top=(),
        other_index=index,
        other_id=0,
        other_piece=b"x",
        other_logprob=-float(rank),
        other_rank=rank,
        other_top=(),
        shift=classify(rank),
        kl=None,
        approximate=False,
    )


def test_summary_counts_ratios_worst_tokens_and_deciles() -> None:
    ranks = [1] * 14 + [2, 3] + [9, 4, 50, 7]  # 20 tokens, the shifts at the end
    s = summarize([_row(i, r) for i, r in enumerate(ranks)], most=3)
    assert (s.total, s.unshifted, s.marginal, s.shifted) == (20, 14, 2, 4)
    assert s.shifted_ratio == pytest.approx(0.2)
    assert s.ratio(ShiftClass.MARGINAL) == pytest.approx(0.1)
    assert s.most_shifted == (18, 16, 19)  # ranks 50, 9, 7
    assert s.by_decile[0] == (2, 0, 0)
    assert s.by_decile[7] == (0, 2, 0)
    assert s.by_decile[8] == (0, 0, 2) and s.by_decile[9] == (0, 0, 2)
    assert sum(sum(d) for d in s.by_decile) == 20


def _check_against_brute_force(
    producer: LlamaModel,
    scorer: LlamaModel,
    p_ctx: Sequence[int],
    s_ctx: Sequence[int],
    reply: Sequence[int],
    rows: Sequence[TokenShift],
) -> None:
    s_rows = brute_force_logprobs(Path(scorer.info.path), [*s_ctx, *reply], len(s_ctx))
    p_rows = brute_force_logprobs(Path(producer.info.path), [*p_ctx, *reply], len(p_ctx))
    assert len(rows) == len(reply) == len(s_rows)
    for k, tok in enumerate(reply):
        lq, lp = s_rows[k], p_rows[k]
        row = rows[k]
        assert row.id == tok and row.other_id == tok and not row.approximate
        assert row.other_rank == 1 + int(np.count_nonzero(lq > lq[tok])), k
        assert row.other_logprob == pytest.approx(lq[tok], abs=1e-3)
        assert row.producer_logprob == pytest.approx(lp[tok], abs=1e-3)
        assert row.shift is classify(row.other_rank)
        assert [e.id for e in row.other_top] == list(np.argsort(-lq, kind="stable")[:5])
        assert [e.id for e in row.producer_top] == list(np.argsort(-lp, kind="stable")[:5])
        exact_kl = float(np.sum(np.exp(lp) * (lp - lq)))
        assert row.kl == pytest.approx(exact_kl, abs=1e-3)


@pytest.mark.parametrize("mode", ["same", "urial", "raw"])
def test_aligned_reply_under_base_matches_brute_force(
    tiny_base: LlamaModel, tiny_aligned: LlamaModel, mode: BaseContext
) -> None:
    a_prompt = aligned_prompt(tiny_aligned, "hello")
    b_prompt = base_prompt(tiny_base, "hello", mode, tiny_aligned)
    gen = generate(tiny_aligned, a_prompt, settings=SamplerSettings(), max_tokens=40)
    # The tiny aligned model is built to reply ALIGNED_REPLY and end its turn.
    assert gen.ids == (*ALIGNED_REPLY, IM_END)
    analysis = analyse_reply(
        tiny_aligned,
        tiny_base,
        producer_context=a_prompt.ids,
        scorer_context=b_prompt.ids,
        reply=gen.ids,
        events=gen.events,
    )
    assert analysis.vocab == "shared" and analysis.kl_method == "exact"
    assert analysis.tokens[-1].special  # the end of turn is part of the reply
    _check_against_brute_force(
        tiny_aligned, tiny_base, a_prompt.ids, b_prompt.ids, gen.ids, analysis.tokens
    )
    s = analysis.summary
    assert s.unshifted + s.marginal + s.shifted == len(gen.ids)


def test_base_reply_under_aligned_and_without_events(
    tiny_base: LlamaModel, tiny_aligned: LlamaModel
) -> None:
    a_prompt = aligned_prompt(tiny_aligned, "hello")
    b_prompt = base_prompt(tiny_base, "hello", "raw")
    gen = generate(tiny_base, b_prompt, settings=SamplerSettings(), max_tokens=9)
    assert gen.ids[:6] == BASE_CYCLE  # the base model rambles its cycle
    # No stream events: the producer's own numbers come from scoring under itself.
    analysis = analyse_reply(
        tiny_base,
        tiny_aligned,
        producer_context=b_prompt.ids,
        scorer_context=a_prompt.ids,
        reply=gen.ids,
    )
    _check_against_brute_force(
        tiny_base, tiny_aligned, b_prompt.ids, a_prompt.ids, gen.ids, analysis.tokens
    )
    with_events = analyse_reply(
        tiny_base,
        tiny_aligned,
        producer_context=b_prompt.ids,
        scorer_context=a_prompt.ids,
        reply=gen.ids,
        events=gen.events,
    )
    for a, b in zip(analysis.tokens, with_events.tokens, strict=True):
        assert a.producer_logprob == pytest.approx(b.producer_logprob, abs=1e-3)
        assert a.other_rank == b.other_rank


def test_events_that_do_not_match_the_reply_are_refused(
    tiny_base: LlamaModel, tiny_aligned: LlamaModel
) -> None:
    a_prompt = aligned_prompt(tiny_aligned, "hello")
    gen = generate(tiny_aligned, a_prompt, settings=SamplerSettings(), max_tokens=3)
    with pytest.raises(ValueError, match="events"):
        analyse_reply(
            tiny_aligned,
            tiny_base,
            producer_context=a_prompt.ids,
            scorer_context=a_prompt.ids,
            reply=gen.ids[:2],
            events=gen.events,
        )


def test_large_vocab_kl_is_a_tight_lower_bound_of_the_exact_kl() -> None:
    from playground.analysis.shift import KL_TOP_N, _ProducerRows

    rng = np.random.default_rng(7)
    n_vocab = 50_000  # above EXACT_KL_MAX_VOCAB: the producer keeps its top-N and a rest
    for scale, tight in ((8.0, True), (1.5, False)):  # peaked: the top-N hold ~all mass
        p_logits = (rng.standard_normal(n_vocab) * scale).astype(np.float32)
        q_logits = (p_logits + rng.standard_normal(n_vocab).astype(np.float32)).astype(np.float32)

        def lse(x: npt.NDArray[np.float32]) -> float:
            m = float(x.max())
            return m + float(np.log(np.exp(x.astype(np.float64) - m).sum()))

        rows = _ProducerRows(1, n_vocab)
        assert not rows.exact and rows.ids.shape[1] == KL_TOP_N
        rows.hook(0, p_logits, lse(p_logits))
        approx = rows.kl(0, q_logits, lse(q_logits))
        lp = p_logits.astype(np.float64) - lse(p_logits)
        lq = q_logits.astype(np.float64) - lse(q_logits)
        exact = float(np.sum(np.exp(lp) * (lp - lq)))
        assert 0.0 <= approx <= exact + 1e-9
        top_mass = float(np.exp(np.sort(lp)[-KL_TOP_N:]).sum())
        if tight:
            assert top_mass > 0.999
            assert approx == pytest.approx(exact, rel=0.05)
