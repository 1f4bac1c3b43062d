"""vLLM as a backend, on a real vLLM serving the demo models on this machine's CPU.

scripts/setup_vllm.sh makes vLLM's venv and converts the demo GGUF files into float32
Hugging Face folders (bf16 moves far ranks). The in-process engine runs the quantized GGUF
and vLLM the dequantized weights, so the two agree closely but not bit for bit (a near-tie
can go either way). The same weights dequantized into a float32 GGUF (tests/f32_gguf.py)
run in-process give vLLM's greedy tokens and ranks exactly. The tests assert that, what must
hold against the quantized GGUF (same vocabulary bytes, same shift classes, differences only
at near-ties), and print the agreement.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from playground.engine.backend import Backend
from playground.engine.llama.model import LlamaModel, LoadOptions
from playground.engine.remote import Endpoint, WrongModel, open_server
from playground.engine.types import Finished, StopReason, TokenEvent
from playground.templates.prompt import build_prompt
from tests.f32_gguf import dequantized_copy
from tests.servers import ci_cache, hf_folder, shared_vllm_server, shared_vllm_servers

TEXT = (
    "The river rises in the northern hills and runs south through farmland, past three "
    "market towns and a ruined abbey, before it widens into a broad estuary."
)


@pytest.fixture(scope="module")
def smol_vllm() -> Iterator[Backend]:
    # Gemma's server starts beside SmolLM2's: its test comes later in this module
    server, _gemma = shared_vllm_servers(
        [(hf_folder("hf-smollm2-135m-instruct"), "smollm2"), (hf_folder("hf-gemma3-270m"), "gemma")]
    )
    model = open_server("vllm", Endpoint(server.url, read_timeout=300), "smollm2", max_top_k=20)
    yield model
    model.close()


@pytest.fixture(scope="module")
def smollm2_f32(smollm2_path: Path) -> Iterator[LlamaModel]:
    """SmolLM2's Q4_1 weights dequantized to float32: the very weights vLLM serves."""
    path = dequantized_copy(smollm2_path, ci_cache())
    model = LlamaModel(path, LoadOptions(n_ctx=1024, n_threads=max(1, os.cpu_count() or 2)))
    yield model
    model.close()


def chat(model: Backend, question: str) -> list[int]:
    return model.tokenize(
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
        f"Face<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"
    )


def test_the_vocabulary_matches_the_gguf(smol_vllm: Backend, smollm2) -> None:  # type: ignore[no-untyped-def]
    remote, local = smol_vllm.vocab, smollm2.vocab
    n = min(remote.size, local.size)
    assert remote.pieces[:n] == local.pieces[:n]
    assert local.eos in remote.eog
    assert smol_vllm.tokenize(TEXT) == smollm2.tokenize(TEXT)
    assert smol_vllm.info.runs_on.startswith("vllm at http://127.0.0.1")


def test_scoring_ranks_over_the_whole_vocabulary(  # type: ignore[no-untyped-def]
    smol_vllm: Backend, smollm2, smollm2_f32: LlamaModel
) -> None:
    ids = smollm2.tokenize(TEXT)
    context, cont = ids[:4], ids[4:]
    local = smollm2.score(context, cont, top_k=5)
    remote = smol_vllm.score(context, cont, top_k=5)
    assert [s.id for s in remote] == cont
    assert all(s.rank_exact for s in remote)  # exact ranks, even far outside the top-k
    assert max(s.rank for s in remote) > smol_vllm.capabilities.max_top_k
    same_rank = sum(a.rank == b.rank for a, b in zip(local, remote, strict=True))
    same_class = sum(
        min(a.rank, 4) // 2 == min(b.rank, 4) // 2 for a, b in zip(local, remote, strict=True)
    )
    close = sum(abs(a.logprob - b.logprob) < 0.1 for a, b in zip(local, remote, strict=True))
    same = smollm2_f32.score(context, cont, top_k=5)
    f32_rank = sum(a.rank == b.rank for a, b in zip(same, remote, strict=True))
    f32_gap = max(abs(a.logprob - b.logprob) for a, b in zip(same, remote, strict=True))
    print(
        f"\nvLLM vs in-process scoring {len(cont)} tokens: Q4_1 GGUF same rank {same_rank}, "
        f"same shift class {same_class}, log-prob within 0.1: {close}; float32 GGUF (the same "
        f"weights) same rank {f32_rank}, log-probs within {f32_gap:.4f}; ranks that differ: "
        f"{[(a.rank, b.rank) for a, b in zip(same, remote, strict=True) if a.rank != b.rank]}"
    )
    assert same_class >= 0.9 * len(cont)
    # the same weights: the same log-probs, and the same ranks except for ties far out in
    # the vocabulary's tail, where float32 summation order can swap neighbours
    assert f32_gap < 0.01
    for a, b in zip(same, remote, strict=True):
        near = min(a.rank, b.rank) > 20 and abs(a.rank - b.rank) <= max(1, a.rank // 100)
        assert a.rank == b.rank or near, (a, b)


def _greedy(model: Backend, prompt: list[int]) -> list[TokenEvent]:
    return [e for e in model.stream(prompt, max_tokens=24, top_k=5) if isinstance(e, TokenEvent)]


def test_greedy_stream_matches_the_same_weights_in_process(  # type: ignore[no-untyped-def]
    smol_vllm: Backend, smollm2_f32: LlamaModel, smollm2
) -> None:
    """vLLM's greedy reply is in-process llama.cpp's on the same float32 weights, token for
    token. Against the Q4_1 GGUF it may part at a near-tie: measured, the first token is
    "L" (-1.852) over "The" (-2.094) in Q4_1, and "The" (-1.883) over "L" (-1.965) in float32
    in both engines; the request, the prompt ids and the greedy settings are the same."""
    prompt = chat(smollm2, "What is the capital of France?")
    remote = list(smol_vllm.stream(prompt, max_tokens=24, top_k=5))
    rev = [e for e in remote if isinstance(e, TokenEvent)]
    done = remote[-1]
    assert isinstance(done, Finished) and done.reason in (StopReason.EOG, StopReason.MAX_TOKENS)
    assert all(len(e.top) == 5 and e.top[0].logprob >= e.logprob for e in rev)

    same = _greedy(smollm2_f32, prompt)
    assert [e.id for e in same] == [e.id for e in rev]
    first_gap = max(abs(a.logprob - b.logprob) for a, b in zip(same, rev, strict=True))
    assert first_gap < 0.01  # float32 in both: only summation order differs

    # The quantized model: where its greedy token is not vLLM's top token (teacher-forced on
    # the quantized reply), the quantized model itself was at a near-tie.
    quant = _greedy(smollm2, prompt)
    scored = smol_vllm.score(prompt, [e.id for e in quant], top_k=5)
    parted = [i for i, s in enumerate(scored) if s.rank != 1]
    gaps = [quant[i].top[0].logprob - quant[i].top[1].logprob for i in parted]
    lead = 0
    for a, b in zip(quant, rev, strict=False):
        if a.id != b.id:
            break
        lead += 1
    print(
        f"\nvLLM vs in-process greedy: same weights (float32 GGUF) {len(same)}/{len(rev)} tokens "
        f"identical, log-probs within {first_gap:.4f}; Q4_1 GGUF: first {lead} identical, "
        f"vLLM's top token at {len(scored) - len(parted)}/{len(scored)} positions of the Q4_1 "
        f"reply, top-2 gaps where not: {[round(g, 3) for g in gaps]}"
    )
    assert len(parted) <= 0.2 * len(scored)
    assert all(g < 0.3 for g in gaps)
    assert {t.id for t in quant[0].top} == {t.id for t in rev[0].top}  # same candidates


def test_another_model_name_is_refused(smol_vllm: Backend) -> None:
    with pytest.raises(WrongModel, match="'smollm2'"):
        open_server("vllm", Endpoint(smol_vllm.client.url), "llama-3.1-8b")  # type: ignore[attr-defined]


def test_gemma_gets_its_bos_through_vllm(gemma) -> None:  # type: ignore[no-untyped-def]
    """transformers' GGUF conversion drops Gemma's `add_bos_token` (without <bos> Gemma
    degrades: " France. The The The"); scripts/gguf_to_hf.py writes it back, so the app's
    prompts start with <bos> on vLLM as they do in-process."""
    server = shared_vllm_server(hf_folder("hf-gemma3-270m"), "gemma")
    model = open_server("vllm", Endpoint(server.url, read_timeout=300), "gemma")
    try:
        assert model.vocab.bos == gemma.vocab.bos and model.vocab.add_bos
        assert "vocab.bos_note" not in model.info.metadata  # the server adds it as well
        text = "The capital of France is"
        prompt = build_prompt(model, "none", "document", [], text).ids  # as the app builds it
        assert prompt[0] == gemma.vocab.bos
        assert prompt == build_prompt(gemma, "none", "document", [], text).ids
        remote = [e.id for e in model.stream(prompt, max_tokens=6) if isinstance(e, TokenEvent)]
        local = [e.id for e in gemma.stream(prompt, max_tokens=6) if isinstance(e, TokenEvent)]
        print(f"\nGemma 3 vLLM vs in-process (Q4_K_M) greedy: {remote} vs {local}")
        assert remote[:3] == local[:3]
    finally:
        model.close()


def test_bos_is_known_from_the_server_when_the_folder_does_not_say(  # type: ignore[no-untyped-def]
    tmp_path: Path, gemma
) -> None:
    """A tokenizer folder whose tokenizer_config.json does not say the model wants BOS (as
    transformers' own GGUF conversion writes it): the server's tokenizer adding BOS is
    enough, so the app's prompts still start with it."""
    folder = tmp_path / "tok"
    folder.mkdir()
    src = hf_folder("hf-gemma3-270m")
    for name in ("tokenizer.json", "generation_config.json", "config.json"):
        (folder / name).write_bytes((src / name).read_bytes())
    cfg = json.loads((src / "tokenizer_config.json").read_text(encoding="utf-8"))
    cfg.pop("add_bos_token", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg), encoding="utf-8")
    server = shared_vllm_server(src, "gemma")
    model = open_server("vllm", Endpoint(server.url), "gemma", tokenizer=str(folder))
    try:
        assert model.vocab.add_bos and "vocab.bos_note" not in model.info.metadata
        text = "The capital of France is"
        assert build_prompt(model, "none", "document", [], text).ids == gemma.tokenize(
            text, add_bos=True
        )
    finally:
        model.close()
