"""The same demo models through llama-server and in-process: same greedy tokens, same shift.

Both engines are the same llama.cpp (scripts/build_llama_server.sh builds the server from the
source llama-cpp-python vendors) with the same settings (flash attention, a full
sliding-window cache, batch 512), so a greedy reply must agree token for token. Scoring is
one batched decode in-process and one decode per token on the server, and quantized kernels
round the two differently, so a rank may flip where two candidates are close (the last test
shows the server's scores are the token-by-token ones). The agreement is printed (pytest -s)
and must stay above 90%.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from playground.analysis.shift import analyse_reply
from playground.engine.backend import Backend
from playground.engine.remote import Endpoint, open_server
from playground.engine.remote.after_chain import prob_after_chain
from playground.engine.settings import SamplerSettings
from playground.engine.types import TokenEvent
from tests.servers import llama_server

QUESTIONS = (
    "What is the capital of France?",
    "Give me three tips for sleeping better.",
    "写一首关于月亮的短诗。",  # CJK: pieces that split characters over tokens
)
REPLY_TOKENS = 48


@pytest.fixture(scope="module")
def demo_router(  # type: ignore[no-untyped-def]
    tmp_path_factory: pytest.TempPathFactory, gemma_path: Path, smollm2_path: Path
) -> Iterator[tuple[Backend, Backend]]:
    work = tmp_path_factory.mktemp("demo-server")
    models = {"gemma": gemma_path, "smollm2": smollm2_path}
    with llama_server(models=models, n_ctx=1024, workdir=work) as server:
        base = open_server("llama-server", Endpoint(server.url, read_timeout=300), "gemma")
        aligned = open_server("llama-server", Endpoint(server.url, read_timeout=300), "smollm2")
        yield base, aligned
        base.close()
        aligned.close()


def chat(model: Backend, question: str) -> list[int]:
    text = (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
        f"Face<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"
    )
    return model.tokenize(text)


def greedy(model: Backend, prompt: list[int]) -> list[TokenEvent]:
    return [
        e
        for e in model.stream(prompt, max_tokens=REPLY_TOKENS, top_k=5)
        if isinstance(e, TokenEvent)
    ]


def test_vocabularies_agree(demo_router, gemma, smollm2) -> None:  # type: ignore[no-untyped-def]
    base, aligned = demo_router
    for remote, local in ((base, gemma), (aligned, smollm2)):
        assert remote.vocab.pieces == local.vocab.pieces
        assert remote.vocab.eog == local.vocab.eog
        assert (remote.vocab.bos, remote.vocab.add_bos) == (local.vocab.bos, local.vocab.add_bos)


def test_greedy_tokens_and_shift_classes_agree(demo_router, gemma, smollm2) -> None:  # type: ignore[no-untyped-def]
    base, aligned = demo_router
    same_tokens = total_tokens = same_classes = total_classes = 0
    ties: list[tuple[int, int, float]] = []
    max_drift = 0.0
    for q in QUESTIONS:
        prompt = chat(smollm2, q)
        assert chat(aligned, q) == prompt
        local = greedy(smollm2, prompt)
        remote = greedy(aligned, prompt)
        total_tokens += len(local)
        same_tokens += sum(1 for a, b in zip(local, remote, strict=False) if a.id == b.id)
        assert [e.id for e in remote] == [e.id for e in local], q
        # The prompt's cache is built in different batch splits on each side (each reuses a
        # different earlier prefix), and quantized kernels round batches differently.
        drift = max(abs(a.logprob - b.logprob) for a, b in zip(local, remote, strict=True))
        max_drift = max(max_drift, drift)
        assert drift < 0.2, q
        scorer_ctx = gemma.tokenize(q, add_bos=True)
        reply = [e.id for e in local]
        in_process = analyse_reply(
            smollm2,
            gemma,
            producer_context=prompt,
            scorer_context=scorer_ctx,
            reply=reply,
            events=local,
            with_kl=False,
        )
        served = analyse_reply(
            aligned,
            base,
            producer_context=prompt,
            scorer_context=scorer_ctx,
            reply=reply,
            events=remote,
            with_kl=False,
        )
        total_classes += len(in_process.tokens)
        for a, b in zip(in_process.tokens, served.tokens, strict=True):
            if a.shift == b.shift:
                same_classes += 1
                continue
            # The server scores one token per decode, in-process one batch, and llama.cpp's
            # quantized kernels round the two differently (0.1-0.35 nats here; the last test
            # shows the server's scores are the token-by-token ones), so near ties can swap.
            rival = a.other_top[min(a.other_rank, b.other_rank) - 1]
            tie = abs(a.other_logprob - rival.logprob)
            ties.append((a.other_rank, b.other_rank, round(tie, 4)))
    print(
        f"\nllama-server vs in-process: greedy tokens {same_tokens}/{total_tokens} "
        f"({100 * same_tokens / total_tokens:.1f}%, log-prob drift <= {max_drift:.3f}), "
        f"shift classes {same_classes}/{total_classes} "
        f"({100 * same_classes / total_classes:.1f}%); differing ranks "
        f"(in-process, server, gap to the rival): {ties}"
    )
    assert same_classes >= 0.9 * total_classes


def test_server_scores_are_the_token_by_token_values(demo_router, gemma) -> None:  # type: ignore[no-untyped-def]
    """Why a class can differ: in-process, a batched score and a token-by-token stream of the
    same reply disagree by rounding; the server's score is the token-by-token one."""
    base, _aligned = demo_router
    ctx = gemma.tokenize("Give me three tips for sleeping better.", add_bos=True)
    events = greedy(gemma, ctx)
    reply = [e.id for e in events]
    batched = gemma.score(ctx, reply, top_k=5)
    served = base.score(ctx, reply, top_k=5)
    drift = max(abs(e.logprob - s.logprob) for e, s in zip(events, batched, strict=True))
    served_drift = max(abs(e.logprob - s.logprob) for e, s in zip(events, served, strict=True))
    print(
        f"\nGemma: in-process batched vs token-by-token max |d logprob| {drift:.4f}; "
        f"llama-server score vs in-process token-by-token {served_drift:.4f}"
    )
    assert served_drift < 2e-3
    assert all(s.rank == 1 for s in served)  # a greedy reply is each step's top token


def test_sampled_tokens_carry_their_probability_after_the_chain(demo_router, smollm2) -> None:  # type: ignore[no-untyped-def]
    """A sampled reply on the server: each token's probability after the chain (worked out
    from the server's top-k, which the top-k sampler's 10 fit in) is the one the in-process
    engine's full distribution gives at the same position."""
    _, aligned = demo_router
    s = SamplerSettings(temperature=0.9, top_k=10, seed=5)
    prompt = chat(aligned, "Name three fruits.")
    events = [
        e for e in aligned.stream(prompt, settings=s, max_tokens=24) if isinstance(e, TokenEvent)
    ]
    assert events and all(0.0 < e.prob_after <= 1.0 for e in events)
    assert any(e.prob_after < 0.9 for e in events)  # the chain left real choices
    scored = smollm2.score(prompt, [e.id for e in events], top_k=10)
    for ev, sc in zip(events, scored, strict=True):
        local = prob_after_chain(sc.top, sc.id, sc.logprob, s)
        assert ev.prob_after == pytest.approx(local, abs=0.02)
