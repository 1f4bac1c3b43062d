"""Forcing a token and going on from it, on the tiny GGUF pair, where the continuation after
any token is known from the models' design (tests/tiny_gguf.py): the aligned model follows
its reply chain and stops with <|im_end|> from any token off it; the base model enters its
"the cat sat on a mat" cycle from any token outside it."""

from __future__ import annotations

import math

import pytest

from playground.engine.llama.model import LlamaModel
from playground.engine.types import Finished, StopReason, TokenEvent, TokenKind
from playground.session.forking import fork_stream, handover, same_vocabulary
from tests.tiny_gguf import (
    ALIGNED_REPLY,
    ALIGNED_REPLY_TEXT,
    BASE_CYCLE,
    BOS,
    IM_END,
    IM_START,
    NEWLINE,
    SPACE_CHAR,
    TOKEN_ID,
)

CHATML_PROMPT = [
    BOS,
    IM_START,
    TOKEN_ID["user"],
    NEWLINE,
    TOKEN_ID["Hello"],
    IM_END,
    NEWLINE,
    IM_START,
    TOKEN_ID["assistant"],
    NEWLINE,
]


def run(model: LlamaModel, prompt: list[int], **kw: object) -> tuple[list[TokenEvent], Finished]:
    events: list[TokenEvent] = []
    for item in model.stream(prompt, **kw):  # type: ignore[arg-type]
        if isinstance(item, Finished):
            return events, item
        events.append(item)
    raise AssertionError("no Finished")


def run_fork(
    model: LlamaModel, prompt: list[int], prefix: list[TokenEvent], forced: list[int], n: int
) -> tuple[list[TokenEvent], Finished]:
    events: list[TokenEvent] = []
    for item in fork_stream(model, prompt, prefix, forced, max_tokens=n):
        if isinstance(item, Finished):
            return events, item
        events.append(item)
    raise AssertionError("no Finished")


def test_aligned_fork_at_token_k_with_an_alternative(tiny_aligned: LlamaModel) -> None:
    original, fin = run(tiny_aligned, CHATML_PROMPT, max_tokens=40)
    assert [e.id for e in original] == [*ALIGNED_REPLY, IM_END] and fin.text == ALIGNED_REPLY_TEXT
    k = 2
    alternative = next(
        t
        for t in original[k].top
        if t.id != original[k].id and tiny_aligned.vocab.kind(t.id) == TokenKind.NORMAL
    )
    branch, bfin = run_fork(tiny_aligned, CHATML_PROMPT, original[:k], [alternative.id], 40)
    # the fork yields the forced token and what follows, numbered from k
    assert [e.index for e in branch] == list(range(k, k + len(branch)))
    forced = branch[0]
    assert forced.id == alternative.id and forced.prob_after == 1.0
    # its probability before forcing: what the model gave it at that position
    assert forced.logprob == pytest.approx(alternative.logprob, abs=1e-4)
    assert forced.top[0].id == original[k].id
    # off the designed reply chain the aligned model stops at once
    assert [e.id for e in branch[1:]] == [IM_END]
    assert bfin.reason == StopReason.EOG and bfin.tokens == k + 2
    assert forced.text == alternative.piece.decode().replace(SPACE_CHAR, " ")
    assert bfin.text == "Hello world" + forced.text


def test_forcing_the_models_own_token_reproduces_the_reply_at_every_k(
    tiny_aligned: LlamaModel,
) -> None:
    """Including k inside 本's three byte tokens: the branch's text comes out whole."""
    original, fin = run(tiny_aligned, CHATML_PROMPT, max_tokens=40)
    for k in range(len(original)):
        branch, bfin = run_fork(tiny_aligned, CHATML_PROMPT, original[:k], [original[k].id], 40)
        assert [e.id for e in branch] == [e.id for e in original[k:]], k
        assert "".join(e.text for e in [*original[:k], *branch]) == fin.text, k
        assert bfin.text == fin.text and bfin.reason == StopReason.EOG
        assert math.isclose(branch[0].logprob, original[k].logprob, abs_tol=1e-4)


def test_base_fork_into_its_cycle(tiny_base: LlamaModel) -> None:
    prompt = [BOS, TOKEN_ID["Hello"]]
    original, _ = run(tiny_base, prompt, max_tokens=8)
    assert [e.id for e in original] == [*BASE_CYCLE, *BASE_CYCLE[:2]]
    # force "▁a" at k=1: the cycle goes on from there, " mat the cat..."
    a = BASE_CYCLE[4]
    branch, fin = run_fork(tiny_base, prompt, original[:1], [a], 8)
    assert [e.id for e in branch] == [a, BASE_CYCLE[5], *BASE_CYCLE[:5]]
    assert fin.tokens == 8 and fin.reason == StopReason.MAX_TOKENS
    assert fin.text == " the a mat the cat sat on a"


def test_swap_hands_the_same_id_across_the_same_vocabulary(
    tiny_base: LlamaModel, tiny_aligned: LlamaModel
) -> None:
    assert same_vocabulary(tiny_base.vocab, tiny_aligned.vocab)
    aligned_reply, _ = run(tiny_aligned, CHATML_PROMPT, max_tokens=40)
    prompt = [BOS, TOKEN_ID["Hello"]]
    base_reply, _ = run(tiny_base, prompt, max_tokens=6)
    # base at position 2 gets the aligned model's "!", then enters its cycle again
    given = handover(tiny_base, tiny_aligned.vocab, aligned_reply[2])
    assert given.ids == (ALIGNED_REPLY[2],) and given.note == ""
    branch, _ = run_fork(tiny_base, prompt, base_reply[:2], list(given.ids), 6)
    assert [e.id for e in branch] == [ALIGNED_REPLY[2], *BASE_CYCLE[:3]]
    # the aligned model given the base's " sat" at position 2 is off its chain: it stops
    given = handover(tiny_aligned, tiny_base.vocab, base_reply[2])
    branch, fin = run_fork(tiny_aligned, CHATML_PROMPT, aligned_reply[:2], list(given.ids), 40)
    assert [e.id for e in branch] == [BASE_CYCLE[2], IM_END] and fin.reason == StopReason.EOG


def test_forcing_an_end_token_ends_the_branch(tiny_base: LlamaModel) -> None:
    prompt = [BOS, TOKEN_ID["Hello"]]
    original, _ = run(tiny_base, prompt, max_tokens=4)
    eos = next(iter(tiny_base.vocab.eog))
    branch, fin = run_fork(tiny_base, prompt, original[:2], [eos], 10)
    assert [e.id for e in branch] == [eos] and branch[0].is_eog
    assert fin.reason == StopReason.EOG and fin.tokens == 3


def test_swap_across_vocabularies_hands_over_the_text_and_says_so(
    tiny_base: LlamaModel, smollm2: LlamaModel
) -> None:
    """SmolLM2 (a 49k byte-level BPE vocabulary) given the tiny base model's " sat"."""
    assert not same_vocabulary(smollm2.vocab, tiny_base.vocab)
    base_reply, _ = run(tiny_base, [BOS, TOKEN_ID["Hello"]], max_tokens=3)
    sat = base_reply[2]
    assert sat.piece == b" sat"
    given = handover(smollm2, tiny_base.vocab, sat)
    assert given.ids == tuple(smollm2.tokenize(" sat", special=False))
    assert smollm2.detokenize(given.ids) == b" sat"
    assert "re-tokenized" in given.note and "' sat'" in given.note
