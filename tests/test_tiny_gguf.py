"""Prove, through real llama.cpp, that the tiny GGUF test models behave as designed.

Every other test that relies on ``tests/tiny_gguf.py`` assumes these properties; if
llama.cpp's loader/tokenizer changes behaviour, this file is where it should show up.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import cast

import jinja2
import llama_cpp
import numpy as np
import numpy.typing as npt
import pytest
from gguf import TokenType

from tests import tiny_gguf as tg

Logits = npt.NDArray[np.float32]

# Llama.reset is unannotated upstream; give it a type once instead of ignoring each call.
_reset = cast(Callable[[llama_cpp.Llama], None], llama_cpp.Llama.reset)


@pytest.fixture(scope="session")
def built_pair(tmp_path_factory: pytest.TempPathFactory) -> tg.TinyPair:
    return tg.build_tiny_pair(tmp_path_factory.mktemp("tiny_gguf"))


def _load(path: Path, *, logits_all: bool = False) -> llama_cpp.Llama:
    return llama_cpp.Llama(
        model_path=str(path), n_ctx=256, n_threads=1, verbose=False, logits_all=logits_all
    )


@pytest.fixture(scope="session")
def aligned(built_pair: tg.TinyPair) -> Iterator[llama_cpp.Llama]:
    llm = _load(built_pair.aligned)
    yield llm
    llm.close()


@pytest.fixture(scope="session")
def base(built_pair: tg.TinyPair) -> Iterator[llama_cpp.Llama]:
    llm = _load(built_pair.base)
    yield llm
    llm.close()


def _last_logits(llm: llama_cpp.Llama) -> Logits:
    # llama-cpp-python only fills ``llm.scores`` when logits_all=True, so read the C buffer.
    ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).copy()


def _logits_after(llm: llama_cpp.Llama, tokens: Sequence[int]) -> Logits:
    _reset(llm)
    llm.eval(list(tokens))
    return _last_logits(llm)


def _is_eog(llm: llama_cpp.Llama, token: int) -> bool:
    return bool(llama_cpp.llama_vocab_is_eog(llm._model.vocab, token))


def _greedy(llm: llama_cpp.Llama, prompt: Sequence[int], max_tokens: int) -> list[int]:
    """Greedy decode, stopping after (and including) the first end-of-generation token."""
    _reset(llm)
    llm.eval(list(prompt))
    out: list[int] = []
    for _ in range(max_tokens):
        nxt = int(np.argmax(_last_logits(llm)))
        out.append(nxt)
        if _is_eog(llm, nxt):
            break
        llm.eval([nxt])
    return out


def _chatml_prompt(llm: llama_cpp.Llama, user: str) -> list[int]:
    # Render the template stored in the GGUF itself, as the app would.
    template = jinja2.Environment().from_string(llm.metadata["tokenizer.chat_template"])
    text = template.render(messages=[{"role": "user", "content": user}], add_generation_prompt=True)
    return llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)


# --- the files themselves -------------------------------------------------------------


def test_build_is_deterministic_small_and_fast(tmp_path: Path) -> None:
    start = time.perf_counter()
    first = tg.build_tiny_pair(tmp_path / "a")
    elapsed = time.perf_counter() - start
    second = tg.build_tiny_pair(tmp_path / "b")
    assert first.base.read_bytes() == second.base.read_bytes()
    assert first.aligned.read_bytes() == second.aligned.read_bytes()
    assert first.base.read_bytes() != first.aligned.read_bytes()
    for path in (first.base, first.aligned):
        assert path.stat().st_size < 4 * 1024 * 1024
    assert elapsed < 1.0


def test_vocab_constants_are_consistent() -> None:
    assert len(set(tg.TOKENS)) == tg.VOCAB_SIZE == len(tg.TOKEN_TYPES) == len(tg.TOKEN_SCORES)
    assert tg.N_EMBD >= tg.VOCAB_SIZE and tg.N_EMBD % tg.HEAD_COUNT == 0
    assert len(tg.LONG_PIECE_TEXT.encode("utf-8")) > 32
    assert len(tg.LONG_CONTROL_TEXT.encode("utf-8")) > 32
    assert tg.TOKEN_TYPES[tg.LONG_PIECE] == TokenType.NORMAL
    assert tg.TOKEN_TYPES[tg.LONG_CONTROL] == TokenType.CONTROL
    assert tg.TOKEN_TYPES[tg.TOOL] == TokenType.USER_DEFINED
    assert tg.TOKEN_TYPES[tg.UNK] == TokenType.UNKNOWN
    assert all(tg.TOKEN_TYPES[tg.byte_token(b)] == TokenType.BYTE for b in range(256))
    assert "日" in tg.TOKEN_ID and "本" not in tg.TOKEN_ID and "🙂" not in tg.TOKEN_ID
    assert (
        tg.ALIGNED_REPLY_TEXT == "Hello world! 日本🙂 supercalifragilisticexpialidocious_and_more"
    )
    assert tg.BASE_CYCLE_TEXT == " the cat sat on a mat"


def test_llama_cpp_sees_the_same_vocab(aligned: llama_cpp.Llama, base: llama_cpp.Llama) -> None:
    for llm in (aligned, base):
        vocab = llm._model.vocab
        assert llm.n_vocab() == tg.VOCAB_SIZE
        texts = [
            llama_cpp.llama_vocab_get_text(vocab, i).decode("utf-8") for i in range(llm.n_vocab())
        ]
        assert texts == list(tg.TOKENS)
        assert llm.token_bos() == tg.BOS
        assert llm.token_eos() == tg.EOS
        assert llama_cpp.llama_vocab_eot(vocab) == tg.IM_END
        assert llama_cpp.llama_vocab_get_add_bos(vocab)


def test_chat_template_only_in_aligned(aligned: llama_cpp.Llama, base: llama_cpp.Llama) -> None:
    assert aligned.metadata["tokenizer.chat_template"] == tg.CHATML_TEMPLATE
    assert "tokenizer.chat_template" not in base.metadata
    assert aligned.metadata["general.name"] == "tiny-aligned"
    assert base.metadata["general.name"] == "tiny-base"


def test_eog_tokens(aligned: llama_cpp.Llama) -> None:
    # <|im_end|> is EOG via eot_token_id; llama.cpp also auto-marks "<end_of_turn>" by text.
    assert {t for t in range(tg.VOCAB_SIZE) if _is_eog(aligned, t)} == {
        tg.EOS,
        tg.IM_END,
        tg.END_OF_TURN,
    }


# --- tokenizer --------------------------------------------------------------------------


def test_special_token_parsing(aligned: llama_cpp.Llama) -> None:
    assert aligned.tokenize(b"<|im_start|>", add_bos=False, special=True) == [tg.IM_START]
    as_text = aligned.tokenize(b"<|im_start|>", add_bos=False, special=False)
    assert len(as_text) > 1 and tg.IM_START not in as_text
    long_text = tg.LONG_CONTROL_TEXT.encode()
    assert aligned.tokenize(long_text, add_bos=False, special=True) == [tg.LONG_CONTROL]
    assert aligned.tokenize(b"hi", add_bos=True, special=False)[0] == tg.BOS


def test_user_defined_token_is_parsed_even_without_special(aligned: llama_cpp.Llama) -> None:
    # llama.cpp only skips CONTROL/UNKNOWN tokens when parse_special is false.
    assert aligned.tokenize(b"<tool>", add_bos=False, special=False) == [tg.TOOL]


def test_byte_fallback(aligned: llama_cpp.Llama) -> None:
    expected_hon = [tg.byte_token(b) for b in "本".encode()]
    assert len(expected_hon) == 3
    assert aligned.tokenize("本".encode(), add_bos=False) == expected_hon
    assert aligned.tokenize("🙂".encode(), add_bos=False) == [
        tg.byte_token(b) for b in "🙂".encode()
    ]
    assert aligned.tokenize("日".encode(), add_bos=False) == [tg.CJK_PIECE]


@pytest.mark.parametrize("piece", [t for t in tg.TOKENS if t.startswith("▁") and len(t) > 2])
def test_word_pieces_tokenize_whole(aligned: llama_cpp.Llama, piece: str) -> None:
    # Every prefix chain exists, so SPM merging reaches each whole word.
    text = piece.replace(tg.SPACE_CHAR, " ").encode()
    assert aligned.tokenize(text, add_bos=False) == [tg.token_id(piece)]


def test_reply_text_round_trips(aligned: llama_cpp.Llama) -> None:
    ids = aligned.tokenize(tg.ALIGNED_REPLY_TEXT.encode(), add_bos=False)
    assert ids == list(tg.ALIGNED_REPLY)
    assert ids[5:8] == [tg.byte_token(b) for b in "本".encode()]
    assert ids[8:12] == [tg.byte_token(b) for b in "🙂".encode()]


def test_long_piece_needs_a_big_buffer(aligned: llama_cpp.Llama) -> None:
    # llama_token_to_piece returns -(needed size) when the buffer is too small; 32-byte
    # buffers (as in llama-cpp-python's own detokenize) silently lose this piece.
    vocab = aligned._model.vocab
    small = ctypes.create_string_buffer(32)
    n = llama_cpp.llama_token_to_piece(vocab, tg.LONG_PIECE, small, 32, 0, False)
    want = tg.LONG_PIECE_TEXT.replace(tg.SPACE_CHAR, " ").encode()
    assert n == -len(want)
    big = ctypes.create_string_buffer(128)
    n = llama_cpp.llama_token_to_piece(vocab, tg.LONG_PIECE, big, 128, 0, False)
    assert big.raw[:n] == want


# --- designed behaviour -----------------------------------------------------------------


def test_chatml_prompt_shape(aligned: llama_cpp.Llama) -> None:
    prompt = _chatml_prompt(aligned, "hello world")
    assert prompt[:3] == [tg.BOS, tg.IM_START, tg.token_id("system")]
    assert prompt[-3:] == [tg.IM_START, tg.ASSISTANT_LOWER, tg.NEWLINE]


@pytest.mark.parametrize("user", ["hello world", "Tell me about 日本 🙂", "x"])
def test_aligned_replies_then_stops(aligned: llama_cpp.Llama, user: str) -> None:
    out = _greedy(aligned, _chatml_prompt(aligned, user), max_tokens=40)
    assert out == [*tg.ALIGNED_REPLY, tg.IM_END]
    text = b"".join(
        tg.TOKENS[t].replace(tg.SPACE_CHAR, " ").encode()
        if tg.TOKEN_TYPES[t] != TokenType.BYTE
        else bytes([t - tg.BYTE_TOKEN_OFFSET])
        for t in out[:-1]
    )
    assert text.decode("utf-8") == tg.ALIGNED_REPLY_TEXT


def test_aligned_off_template_stops_at_once(aligned: llama_cpp.Llama) -> None:
    prompt = aligned.tokenize(b"User: hello world\nAssistant:", add_bos=True)
    assert _greedy(aligned, prompt, max_tokens=5) == [tg.ALIGNED_DEFAULT_NEXT]


@pytest.mark.parametrize("use_chatml", [True, False])
def test_base_rambles_without_eog(
    base: llama_cpp.Llama, aligned: llama_cpp.Llama, use_chatml: bool
) -> None:
    prompt = (
        _chatml_prompt(aligned, "hello world")  # same vocab: the aligned prompt works
        if use_chatml
        else base.tokenize(b"User: hello world\nAssistant:", add_bos=True)
    )
    out = _greedy(base, prompt, max_tokens=2 * len(tg.BASE_CYCLE))
    assert out == [*tg.BASE_CYCLE, *tg.BASE_CYCLE]
    assert not any(_is_eog(base, t) for t in out)


def test_models_differ_on_same_context(aligned: llama_cpp.Llama, base: llama_cpp.Llama) -> None:
    prompt = _chatml_prompt(aligned, "hello world")
    la, lb = _logits_after(aligned, prompt), _logits_after(base, prompt)
    assert int(np.argmax(la)) == tg.ALIGNED_REPLY[0]
    assert int(np.argmax(lb)) == tg.BASE_CYCLE[0]
    assert float(np.abs(la - lb).max()) > 1.0


def test_context_shifts_logits_slightly(aligned: llama_cpp.Llama) -> None:
    short = _chatml_prompt(aligned, "hello world")
    longer = _chatml_prompt(aligned, "the cat sat on a mat, hello world, <tool> 日本")
    assert short[-1] == longer[-1] == tg.NEWLINE
    ls, ll = _logits_after(aligned, short), _logits_after(aligned, longer)
    diff = float(np.abs(ls - ll).max())
    assert 1e-3 < diff < 1.5
    assert int(np.argmax(ls)) == int(np.argmax(ll)) == tg.ALIGNED_REPLY[0]
    # Re-evaluating the same context is bit-for-bit reproducible.
    assert np.array_equal(_logits_after(aligned, short), ls)


def test_probabilities_are_not_one_hot(aligned: llama_cpp.Llama) -> None:
    logits = _logits_after(aligned, _chatml_prompt(aligned, "hello world")).astype(np.float64)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    top = np.sort(probs)[::-1]
    assert 0.3 < top[0] < 0.99
    assert top[1] > 1e-4 and top[4] > 1e-5


def _check_transitions_in_random_contexts(
    path: Path, transitions: Mapping[int, int], default_next: int | None
) -> None:
    llm = _load(path, logits_all=True)
    try:
        rng = np.random.default_rng(1234)
        for _ in range(3):
            # Every vocab token appears (once per permutation, at a random position).
            for chunk in np.array_split(rng.permutation(tg.VOCAB_SIZE), 2):
                seq = [tg.BOS, *(int(t) for t in chunk)]
                _reset(llm)
                llm.eval(seq)
                scores = np.asarray(llm.scores[: len(seq)])
                for pos, tok in enumerate(seq):
                    want = transitions.get(tok, default_next)
                    assert want is not None
                    row = scores[pos]
                    assert int(np.argmax(row)) == want, (pos, tg.TOKENS[tok])
                    runner_up = float(np.max(np.delete(row, want)))
                    assert float(row[want]) - runner_up > 2.0, (pos, tg.TOKENS[tok])
    finally:
        llm.close()


def test_aligned_transitions_hold_in_random_contexts(built_pair: tg.TinyPair) -> None:
    _check_transitions_in_random_contexts(
        built_pair.aligned, tg.ALIGNED_TRANSITIONS, tg.ALIGNED_DEFAULT_NEXT
    )


def test_base_transitions_hold_in_random_contexts(built_pair: tg.TinyPair) -> None:
    _check_transitions_in_random_contexts(built_pair.base, tg.BASE_TRANSITIONS, None)


def test_custom_two_layer_model(tmp_path: Path) -> None:
    cycle = (tg.USER, tg.token_id(":"), tg.SPACE, tg.ASSISTANT)
    path = tg.write_tiny_gguf(
        tmp_path / "custom.gguf",
        transitions=dict(zip(cycle, (*cycle[1:], tg.EOS), strict=True)),
        default_next=tg.USER,
        seed=7,
        chat_template=None,
        name="custom",
        n_layers=2,
    )
    llm = _load(path)
    try:
        assert _greedy(llm, [tg.BOS, tg.token_id("x")], max_tokens=10) == [*cycle, tg.EOS]
    finally:
        llm.close()


def test_bad_transitions_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        tg.write_tiny_gguf(
            tmp_path / "bad.gguf",
            transitions={0: tg.VOCAB_SIZE},
            seed=0,
            chat_template=None,
            name="bad",
        )
