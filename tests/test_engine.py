"""The engine on real GGUF files through real llama.cpp: the tiny pair and the demo models."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from playground.engine.errors import ModelFileMissing, ModelLoadError, NotAGGUF, PromptTooLong
from playground.engine.llama.model import LlamaModel, LoadOptions
from playground.engine.settings import SamplerSettings
from playground.engine.topk import logsumexp
from playground.engine.types import Finished, StopReason, TokenEvent, TokenKind
from tests import tiny_gguf as tg


def chatml_prompt(model: LlamaModel, user: str) -> list[int]:
    text = (
        f"<|im_start|>system\n{tg.CHATML_DEFAULT_SYSTEM}<|im_end|>\n"
        f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
    )
    return model.tokenize(text, special=True)


def run(model: LlamaModel, prompt: list[int], **kw: object) -> tuple[list[TokenEvent], Finished]:
    events: list[TokenEvent] = []
    done: Finished | None = None
    for item in model.stream(prompt, **kw):  # type: ignore[arg-type]
        if isinstance(item, TokenEvent):
            events.append(item)
        else:
            done = item
    assert done is not None
    return events, done


# --------------------------------------------------------------------------- vocabulary


def test_pieces_longer_than_32_bytes_keep_every_byte(tiny_aligned: LlamaModel) -> None:
    vocab = tiny_aligned.vocab
    assert vocab.piece(tg.LONG_PIECE) == b" supercalifragilisticexpialidocious_and_more"
    assert vocab.piece(tg.LONG_CONTROL) == tg.LONG_CONTROL_TEXT.encode()
    assert len(vocab.piece(tg.LONG_CONTROL)) > 32


def test_gemma_long_pieces_round_trip(gemma: LlamaModel) -> None:
    vocab = gemma.vocab
    long_ids = [i for i, p in enumerate(vocab.pieces) if len(p) > 32]
    assert len(long_ids) > 100  # hundreds of these are what the wrapper's 32-byte buffer loses
    # the piece's bytes tokenize back to that very token: the bytes are complete
    for tok in long_ids[:20]:
        if vocab.kind(tok) is TokenKind.NORMAL:
            assert gemma.tokenize(vocab.piece(tok), special=False) == [tok]


def test_token_kinds_and_end_of_generation(tiny_aligned: LlamaModel) -> None:
    vocab = tiny_aligned.vocab
    assert vocab.kind(tg.IM_START) is TokenKind.CONTROL
    assert vocab.kind(tg.TOOL) is TokenKind.USER_DEFINED
    assert vocab.kind(tg.byte_token(0xE6)) is TokenKind.BYTE
    assert vocab.kind(tg.SPACE) is TokenKind.NORMAL
    assert tg.IM_END in vocab.eog and tg.EOS in vocab.eog
    assert vocab.bos == tg.BOS and vocab.eos == tg.EOS


def test_demo_vocabularies(smollm2: LlamaModel, gemma: LlamaModel) -> None:
    im_end = smollm2.vocab.ids_of_piece(b"<|im_end|>")
    assert im_end and im_end[0] in smollm2.vocab.eog
    eot = gemma.vocab.ids_of_piece(b"<end_of_turn>")
    assert eot and eot[0] in gemma.vocab.eog
    assert gemma.vocab.add_bos and gemma.vocab.bos is not None


# --------------------------------------------------------------------------- tokenizing


@pytest.mark.parametrize("text", ["<|im_start|>", "<start_of_turn>"])
def test_special_text_parsed_or_plain(tiny_aligned: LlamaModel, text: str) -> None:
    special = tiny_aligned.tokenize(text, special=True)
    plain = tiny_aligned.tokenize(text, special=False)
    assert len(special) == 1 and tiny_aligned.vocab.is_special(special[0])
    assert len(plain) > 1 and not any(tiny_aligned.vocab.is_special(t) for t in plain)
    assert tiny_aligned.detokenize(plain) == text.encode()


def test_smollm2_special_tokens_both_ways(smollm2: LlamaModel) -> None:
    special = smollm2.tokenize("<|im_start|>user", special=True)
    plain = smollm2.tokenize("<|im_start|>user", special=False)
    assert smollm2.vocab.is_special(special[0]) and len(special) == 2
    assert len(plain) > 3


# --------------------------------------------------------------------------- streaming


def test_aligned_reply_streams_cjk_and_emoji_whole(tiny_aligned: LlamaModel) -> None:
    events, done = run(tiny_aligned, chatml_prompt(tiny_aligned, "hello"), max_tokens=40)
    assert done.reason is StopReason.EOG
    assert done.text == tg.ALIGNED_REPLY_TEXT
    assert "\ufffd" not in "".join(e.text for e in events)
    assert "".join(e.text for e in events) == tg.ALIGNED_REPLY_TEXT
    # 本 arrives as three byte tokens: nothing shows until the third completes it
    ben = [e for e in events if e.kind is TokenKind.BYTE][:3]
    assert [e.text for e in ben] == ["", "", "本"]
    last = events[-1]
    assert last.id == tg.IM_END and last.is_eog and last.special and last.text == ""


def test_event_probabilities_are_a_distribution(tiny_aligned: LlamaModel) -> None:
    events, _ = run(tiny_aligned, chatml_prompt(tiny_aligned, "hello"), max_tokens=5, top_k=5)
    for ev in events:
        assert len(ev.top) == 5
        assert ev.top[0].id == ev.id  # greedy: the chosen token is the top one
        assert ev.logprob == pytest.approx(ev.top[0].logprob)
        lps = [t.logprob for t in ev.top]
        assert lps == sorted(lps, reverse=True) and sum(np.exp(lps)) <= 1.0 + 1e-6
        # no tricks on: the distribution greedy took the argmax of is the raw one
        assert ev.prob_after == pytest.approx(ev.prob)


def test_top_k_matches_a_full_sort(tiny_base: LlamaModel) -> None:
    prompt = tiny_base.tokenize("hello world", add_bos=True)
    captured: list[np.ndarray] = []

    def hook(_i: int, row: np.ndarray, _lse: float) -> None:
        captured.append(row.copy())

    tiny_base.score(prompt[:-1], prompt[-1:], row_hook=hook)
    events, _ = run(tiny_base, prompt[:-1], max_tokens=1, top_k=10)
    row = captured[0]
    expected = np.argsort(-row, kind="stable")[:10]
    assert [t.id for t in events[0].top] == [int(i) for i in expected]


def test_max_tokens_and_stop_string(tiny_base: LlamaModel) -> None:
    prompt = tiny_base.tokenize("hello", add_bos=True)
    _events, done = run(tiny_base, prompt, max_tokens=7)
    assert done.reason is StopReason.MAX_TOKENS and done.tokens == 7
    _events, done = run(tiny_base, prompt, max_tokens=50, stop=[" on"])
    assert done.reason is StopReason.STOP_STRING
    assert done.text.endswith(" sat") and " on" not in done.text


def test_cancel_takes_effect_within_one_token(tiny_base: LlamaModel) -> None:
    prompt = tiny_base.tokenize("hello", add_bos=True)
    seen: list[TokenEvent] = []
    stop = threading.Event()
    done: Finished | None = None
    for item in tiny_base.stream(prompt, max_tokens=100, cancel=stop.is_set):
        if isinstance(item, TokenEvent):
            seen.append(item)
            if len(seen) == 3:
                stop.set()
        else:
            done = item
    assert done is not None and done.reason is StopReason.CANCELLED
    assert done.tokens == 3 and len(seen) == 3


def test_sampled_generation_is_seeded(smollm2: LlamaModel) -> None:
    prompt = smollm2.tokenize("Once upon a time", add_bos=True)
    s = SamplerSettings(temperature=1.0, top_k=40, top_p=0.95, seed=1234)
    a, _ = run(smollm2, prompt, settings=s, max_tokens=12)
    b, _ = run(smollm2, prompt, settings=s, max_tokens=12)
    c, _ = run(smollm2, prompt, settings=SamplerSettings(temperature=1.0, seed=99), max_tokens=12)
    assert [e.id for e in a] == [e.id for e in b]
    assert [e.id for e in a] != [e.id for e in c]
    assert all(0.0 < e.prob_after <= 1.0 for e in a)


# --------------------------------------------------------------------------- KV cache


def test_second_turn_evaluates_only_new_tokens(tiny_aligned: LlamaModel) -> None:
    tiny_aligned.reset()
    first = chatml_prompt(tiny_aligned, "hello")
    events, _ = run(tiny_aligned, first, max_tokens=40)
    reply = [e.id for e in events]
    follow = tiny_aligned.tokenize("\n<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n")
    second = first + reply + follow
    again, done = run(tiny_aligned, second, max_tokens=40)
    # the reply's EOG token was never decoded, so it and the follow-up are new
    assert done.reused_tokens == len(first) + len(reply) - 1
    assert tiny_aligned.last_prompt_eval_tokens == len(second) - done.reused_tokens
    tiny_aligned.reset()
    fresh, fresh_done = run(tiny_aligned, second, max_tokens=40)
    assert fresh_done.reused_tokens == 0
    assert [e.id for e in again] == [e.id for e in fresh]
    for a, b in zip(again, fresh, strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4)


def test_sliding_window_cache_survives_rollback(gemma_path: Path) -> None:
    """Gemma 3 attends locally over 512 tokens. Going back to a short shared prefix after a
    long prompt must give what a fresh run gives: a trimmed sliding-window cache that has
    already evicted the early positions would not. llama.cpp keeps n_swa + n_ubatch cells,
    so a small batch and a prompt past that make the eviction real."""
    gemma = LlamaModel(gemma_path, LoadOptions(n_ctx=2048, n_batch=64, n_threads=2))
    assert gemma.info.sliding_window == 512
    shared = gemma.tokenize("Notes. " + "A list of animals: cat, dog, owl. " * 8, add_bos=True)
    first = shared + gemma.tokenize(" ".join(f"Item {i}: a red fox." for i in range(100)))
    second = shared + gemma.tokenize(" ".join(f"Entry {i}: the blue sea." for i in range(100)))
    assert len(first) > gemma.info.sliding_window + 64 + 300 and len(second) < gemma.n_ctx - 20
    gemma.reset()
    run(gemma, first, max_tokens=4)
    reused_events, done = run(gemma, second, max_tokens=16)
    assert 0 < done.reused_tokens <= len(shared) + 2
    gemma.reset()
    fresh, _ = run(gemma, second, max_tokens=16)
    assert [e.id for e in reused_events] == [e.id for e in fresh]
    for a, b in zip(reused_events, fresh, strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=0.05)
    gemma.close()


# --------------------------------------------------------------------------- scoring


@pytest.mark.parametrize("which", ["tiny_aligned", "smollm2"])
def test_score_matches_token_by_token_decoding(which: str, request: pytest.FixtureRequest) -> None:
    model: LlamaModel = request.getfixturevalue(which)
    prompt = (
        chatml_prompt(model, "hello")
        if which == "tiny_aligned"
        else model.tokenize("<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n")
    )
    model.reset()
    events, _ = run(model, prompt, max_tokens=16)
    cont = [e.id for e in events]
    model.reset()
    scored = model.score(prompt, cont, top_k=3)
    assert [s.id for s in scored] == cont
    # the stream decoded one token at a time; the score is one batched pass
    for s, e in zip(scored, events, strict=True):
        assert s.logprob == pytest.approx(e.logprob, abs=1e-2)
        assert s.rank == 1  # greedy picked the top token at every position
        assert s.top[0].id == e.id


def _raw_row(model: LlamaModel, context: list[int], target: int) -> np.ndarray:
    rows: list[np.ndarray] = []
    model.score(context, [target], row_hook=lambda _i, r, _l: rows.append(r.copy()))
    return rows[0]


def test_score_rank_against_brute_force(tiny_base: LlamaModel) -> None:
    context = tiny_base.tokenize("hello", add_bos=True)
    cont = tiny_base.tokenize(" the mat sat cat", special=False)
    tiny_base.reset()
    scored = tiny_base.score(context, cont)
    for j, s in enumerate(scored):
        tiny_base.reset()
        row = _raw_row(tiny_base, context + cont[:j], cont[j])
        assert s.rank == 1 + int(np.sum(row > row[cont[j]]))
        assert s.logprob == pytest.approx(float(row[cont[j]]) - logsumexp(row), abs=1e-5)


def test_score_spans_several_chunks(tiny_base: LlamaModel) -> None:
    context = tiny_base.tokenize("hello", add_bos=True)
    cont = tiny_base.tokenize(" the cat sat on a mat" * 20, special=False)
    assert len(cont) > 64  # more than one decode's worth of output rows
    tiny_base.reset()
    whole = tiny_base.score(context, cont)
    tiny_base.reset()
    tail = tiny_base.score(context + cont[:70], cont[70:])
    assert len(whole) == len(cont)
    for a, b in zip(whole[70:], tail, strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-3) and a.rank == b.rank


# --------------------------------------------------------------------------- limits and errors


def test_prompt_over_context_is_a_clear_error(tiny_base: LlamaModel) -> None:
    prompt = tiny_base.tokenize(" the cat sat on a mat" * 60, add_bos=True)
    assert len(prompt) > tiny_base.n_ctx
    with pytest.raises(PromptTooLong, match=r"holds 256.*Fix: shorten"):
        tiny_base.stream(prompt)
    # the model is still usable afterwards
    _events, done = run(tiny_base, tiny_base.tokenize("hello", add_bos=True), max_tokens=2)
    assert done.tokens == 2


def test_generation_stops_when_the_context_fills(tiny_base: LlamaModel) -> None:
    prompt = tiny_base.tokenize(" the cat sat on a mat" * 40, add_bos=True)
    assert len(prompt) < tiny_base.n_ctx
    events, done = run(tiny_base, prompt, max_tokens=500)
    assert done.reason is StopReason.CONTEXT_FULL
    assert len(prompt) + len(events) - 1 == tiny_base.n_ctx


def test_missing_truncated_and_foreign_files(tmp_path: Path, tiny_pair) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelFileMissing, match="not found.*Fix"):
        LlamaModel(tmp_path / "nope.gguf")
    foreign = tmp_path / "weights.bin"
    foreign.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(NotAGGUF, match=r"starts with b'PK"):
        LlamaModel(foreign)
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(Path(tiny_pair.base).read_bytes()[:100_000])
    with pytest.raises(ModelLoadError, match="truncated or corrupt"):
        LlamaModel(truncated, LoadOptions(n_ctx=64))


def test_offload_is_reported(tiny_pair) -> None:  # type: ignore[no-untyped-def]
    import llama_cpp

    with LlamaModel(tiny_pair.base, LoadOptions(n_ctx=64, n_gpu_layers=-1)) as m:
        assert m.info.offload is not None
        if llama_cpp.llama_supports_gpu_offload():
            assert m.info.offload.offloaded_layers > 0
            assert "layers offloaded" in m.info.offload.describe()
        else:
            assert m.info.offload.offloaded_layers == 0
            assert "CPU only" in m.info.offload.describe()
            assert "GGML_CUDA" in m.info.offload.describe()


# --------------------------------------------------------------------------- threads


def test_two_models_stream_at_once(tiny_base: LlamaModel, tiny_aligned: LlamaModel) -> None:
    pb = tiny_base.tokenize("hello", add_bos=True)
    pa = chatml_prompt(tiny_aligned, "hello")
    expected = {
        "base": run(tiny_base, pb, max_tokens=30)[1].text,
        "aligned": run(tiny_aligned, pa, max_tokens=30)[1].text,
    }
    results: dict[str, str] = {}
    barrier = threading.Barrier(2)

    def go(name: str, model: LlamaModel, prompt: list[int]) -> None:
        barrier.wait()
        results[name] = run(model, prompt, max_tokens=30)[1].text

    threads = [
        threading.Thread(target=go, args=("base", tiny_base, pb)),
        threading.Thread(target=go, args=("aligned", tiny_aligned, pa)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == expected


def test_one_model_is_never_used_by_two_threads(tiny_base: LlamaModel) -> None:
    prompt = tiny_base.tokenize("hello", add_bos=True)
    expected = run(tiny_base, prompt, max_tokens=20)[1].text
    results: list[str] = []

    def go() -> None:
        results.append(run(tiny_base, prompt, max_tokens=20)[1].text)

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == [expected] * 3
