"""The backend contract, on every backend in BACKENDS (see conftest.py), on the tiny pair.

The tiny pair's behaviour is designed (tests/tiny_gguf.py): the aligned model answers
ALIGNED_REPLY_TEXT then <|im_end|>, the base model rambles BASE_CYCLE_TEXT. So every backend
must produce exactly those texts, byte for byte, with a top-k that is a distribution.
"""

from __future__ import annotations

import math
import threading

import pytest

from playground.analysis.shift import ShiftClass, analyse_reply
from playground.engine.backend import CAPABILITY_NAMES, Backend, Unsupported
from playground.engine.errors import PromptTooLong
from playground.engine.settings import SamplerSettings
from playground.engine.types import Finished, StopReason, StreamItem, TokenEvent, TokenKind
from tests import tiny_gguf as tg
from tests.contract.conftest import BackendPair


def chatml(model: Backend, user: str) -> list[int]:
    text = (
        f"<|im_start|>system\n{tg.CHATML_DEFAULT_SYSTEM}<|im_end|>\n"
        f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
    )
    return model.tokenize(text, special=True)


def drain(items: object) -> tuple[list[TokenEvent], Finished]:
    events: list[TokenEvent] = []
    done: Finished | None = None
    for item in items:  # type: ignore[attr-defined]
        assert isinstance(item, TokenEvent | Finished)
        if isinstance(item, TokenEvent):
            assert done is None, "a TokenEvent came after Finished"
            events.append(item)
        else:
            done = item
    assert done is not None, "the stream ended without a Finished"
    return events, done


# --------------------------------------------------------------------------- describe


def test_a_backend_describes_its_model(backends: BackendPair) -> None:
    for model, name in ((backends.base, "tiny-base"), (backends.aligned, "tiny-aligned")):
        assert isinstance(model, Backend)
        assert model.info.name == name
        assert model.info.n_vocab == model.vocab.size == tg.VOCAB_SIZE
        assert model.info.n_ctx >= 64 and model.info.runs_on
        caps = model.capabilities
        assert 5 <= caps.max_top_k <= model.vocab.size
        # every capability that is off says why, for the greyed-out control
        for flag in CAPABILITY_NAMES:
            reason = caps.why_not(flag)
            assert (reason is None) == bool(getattr(caps, flag)), flag
            assert reason is None or len(reason) > 10
    assert backends.aligned.info.chat_template and "im_start" in backends.aligned.info.chat_template
    assert not backends.base.info.chat_template


def test_vocabulary_kinds_and_end_of_generation(backends: BackendPair) -> None:
    vocab = backends.aligned.vocab
    assert vocab.kind(tg.IM_START) is TokenKind.CONTROL
    assert vocab.kind(tg.byte_token(0xE6)) is TokenKind.BYTE
    assert tg.IM_END in vocab.eog and tg.EOS in vocab.eog
    assert vocab.bos == tg.BOS and vocab.add_bos


# --------------------------------------------------------------------------- exact bytes


@pytest.mark.parametrize(
    "text",
    [
        "hello world",
        tg.LONG_PIECE_TEXT.replace(tg.SPACE_CHAR, " "),  # a piece longer than 32 bytes
        tg.CJK_PIECE_TEXT,
        "本 and 🙂",  # byte-fallback tokens: a character split over several tokens
        "<|im_start|>",
    ],
)
def test_tokenize_and_detokenize_give_back_the_exact_bytes(
    backends: BackendPair, text: str
) -> None:
    model = backends.aligned
    if text == "<|im_start|>" and not model.capabilities.special_text_as_plain:
        with pytest.raises(Unsupported, match="special-token text as plain text"):
            model.tokenize(text, special=False)
        return
    ids = model.tokenize(text, special=False)
    assert model.detokenize(ids) == text.encode("utf-8")
    assert model.tokenize(text.encode("utf-8"), special=False) == ids


def test_long_and_cjk_pieces_are_single_tokens(backends: BackendPair) -> None:
    model = backends.aligned
    assert model.vocab.piece(tg.LONG_PIECE) == tg.LONG_PIECE_TEXT.replace(
        tg.SPACE_CHAR, " "
    ).encode("utf-8")
    assert len(model.vocab.piece(tg.LONG_PIECE)) > 32
    assert model.tokenize(tg.CJK_PIECE_TEXT, special=False) == [tg.CJK_PIECE]


def test_special_text_is_one_token_or_plain_text(backends: BackendPair) -> None:
    model = backends.aligned
    special = model.tokenize("<|im_start|>", special=True)
    assert special == [tg.IM_START]
    if not model.capabilities.special_text_as_plain:
        assert model.capabilities.why_not("special_text_as_plain")
        with pytest.raises(Unsupported, match="special-token text as plain text"):
            model.tokenize("<|im_start|>", special=False)
        assert model.tokenize("hello", special=False) == [tg.token_id("hello")]
        return
    plain = model.tokenize("<|im_start|>", special=False)
    assert len(plain) > 1 and not any(model.vocab.is_special(t) for t in plain)


def test_bos_is_added_only_when_asked(backends: BackendPair) -> None:
    model = backends.base
    assert model.tokenize("hello", add_bos=True)[0] == tg.BOS
    assert tg.BOS not in model.tokenize("hello", add_bos=False)


# --------------------------------------------------------------------------- stream


def test_the_aligned_model_answers_and_stops(backends: BackendPair) -> None:
    model = backends.aligned
    events, done = drain(model.stream(chatml(model, "hello"), max_tokens=40, top_k=5))
    assert done.reason is StopReason.EOG
    assert done.text == tg.ALIGNED_REPLY_TEXT == "".join(e.text for e in events)
    assert [e.id for e in events] == [*tg.ALIGNED_REPLY, tg.IM_END]
    assert [e.index for e in events] == list(range(len(events)))
    assert events[-1].is_eog and events[-1].text == ""
    # a character split over byte tokens shows whole, with the token that completes it
    ben = [e for e in events if e.kind is TokenKind.BYTE][:3]
    assert [e.text for e in ben] == ["", "", "本"]
    assert done.tokens == len(events) and done.prompt_tokens == len(chatml(model, "hello"))


def test_every_token_comes_with_its_top_k(backends: BackendPair) -> None:
    model = backends.aligned
    events, _ = drain(model.stream(chatml(model, "hello"), max_tokens=6, top_k=5))
    for ev in events:
        assert len(ev.top) == 5
        assert ev.top[0].id == ev.id  # greedy takes the top token
        assert ev.logprob == pytest.approx(ev.top[0].logprob, abs=1e-4)
        assert ev.piece == model.vocab.piece(ev.id)
        lps = [t.logprob for t in ev.top]
        assert lps == sorted(lps, reverse=True)
        assert all(lp <= 0.0 for lp in lps) and sum(math.exp(lp) for lp in lps) <= 1.0 + 1e-4
        assert [t.piece for t in ev.top] == [model.vocab.piece(t.id) for t in ev.top]


def test_a_sampler_trace_comes_when_the_flag_says_so(backends: BackendPair) -> None:
    """The inspector shows what the sampler did where `sampler_trace` is on, and greys the
    section out with the reason where it is off: a flag that is on must deliver a trace."""
    model = backends.aligned
    events, _ = drain(model.stream(chatml(model, "hello"), max_tokens=4, top_k=5))
    caps = model.capabilities
    if caps.sampler_trace:
        assert all(ev.trace is not None for ev in events)
    else:
        assert caps.why_not("sampler_trace")
        assert all(ev.trace is None for ev in events)


def test_a_top_k_beyond_the_backend_is_refused(backends: BackendPair) -> None:
    model = backends.base
    too_many = model.capabilities.max_top_k + 1
    with pytest.raises(Unsupported, match=f"top-{too_many}"):
        drain(model.stream(model.tokenize("hello", add_bos=True), max_tokens=1, top_k=too_many))


def test_max_tokens_and_stop_strings(backends: BackendPair) -> None:
    model = backends.base
    prompt = model.tokenize("hello", add_bos=True)
    events, done = drain(model.stream(prompt, max_tokens=7))
    assert done.reason is StopReason.MAX_TOKENS and done.tokens == len(events) == 7
    _events, done = drain(model.stream(prompt, max_tokens=50, stop=[" on"]))
    assert done.reason is StopReason.STOP_STRING
    assert done.text.endswith(" sat") and " on" not in done.text


def test_cancel_ends_the_stream_within_one_token(backends: BackendPair) -> None:
    model = backends.base
    stop = threading.Event()
    seen: list[StreamItem] = []
    for item in model.stream(
        model.tokenize("hello", add_bos=True), max_tokens=100, cancel=stop.is_set
    ):
        seen.append(item)
        if len(seen) == 3:
            stop.set()
    done = seen[-1]
    assert isinstance(done, Finished) and done.reason is StopReason.CANCELLED
    assert done.tokens == 3 and len(seen) == 4


def test_a_prompt_longer_than_the_context_is_a_clear_error(backends: BackendPair) -> None:
    model = backends.base
    prompt = model.tokenize(" the cat sat on a mat" * 80, add_bos=True)
    assert len(prompt) > model.info.n_ctx
    with pytest.raises(PromptTooLong, match="Fix: shorten"):
        drain(model.stream(prompt))
    _events, done = drain(model.stream(model.tokenize("hello", add_bos=True), max_tokens=2))
    assert done.tokens == 2  # still usable


def test_the_next_turn_reuses_the_cache_where_it_can(backends: BackendPair) -> None:
    model = backends.aligned
    first = chatml(model, "hello")
    events, _ = drain(model.stream(first, max_tokens=40))
    follow = model.tokenize("\n<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n")
    again, done = drain(model.stream(first + [e.id for e in events] + follow, max_tokens=40))
    assert done.text == tg.ALIGNED_REPLY_TEXT
    if model.capabilities.kv_reuse:
        assert done.reused_tokens >= len(first)
    else:
        assert done.reused_tokens == 0


# --------------------------------------------------------------------------- sampler


def test_a_logit_bias_ban_changes_the_greedy_token(backends: BackendPair) -> None:
    model = backends.base
    prompt = model.tokenize("hello", add_bos=True)
    plain, _ = drain(model.stream(prompt, max_tokens=1))
    first = plain[0].id
    banned = SamplerSettings(logit_bias=((first, -math.inf),))
    events, _ = drain(model.stream(prompt, settings=banned, max_tokens=1, top_k=5))
    assert events[0].id != first
    # the top-k is the model's raw distribution: the banned token still leads it
    assert events[0].top[0].id == first and events[0].prob_after > events[0].prob


def test_live_sampler_changes_apply_from_the_next_token(backends: BackendPair) -> None:
    model = backends.aligned
    prompt = chatml(model, "hello")
    fourth = tg.ALIGNED_REPLY[3]
    seen: list[int] = []
    greedy = SamplerSettings()
    ban_fourth = SamplerSettings(logit_bias=((fourth, -math.inf),))

    def settings() -> SamplerSettings:
        return ban_fourth if len(seen) >= 3 else greedy

    if not model.capabilities.live_sampler_changes:
        with pytest.raises(Unsupported, match="live"):
            drain(model.stream(prompt, settings=settings, max_tokens=8))
        return
    for item in model.stream(prompt, settings=settings, max_tokens=8):
        if isinstance(item, TokenEvent):
            seen.append(item.id)
    assert seen[:3] == list(tg.ALIGNED_REPLY[:3])
    assert seen[3] != fourth


def test_logit_tricks_work_or_are_refused(backends: BackendPair) -> None:
    model = backends.aligned
    prompt = chatml(model, "hello")
    ban = SamplerSettings(ban_eos=True)
    if not model.capabilities.logit_tricks:
        assert model.capabilities.unsupported_settings(ban) == ("ban_eos",)
        with pytest.raises(Unsupported, match="ban_eos"):
            drain(model.stream(prompt, settings=ban, max_tokens=40))
        return
    events, done = drain(model.stream(prompt, settings=ban, max_tokens=40))
    assert done.reason is StopReason.MAX_TOKENS and not any(e.is_eog for e in events)
    assert done.text.startswith(tg.ALIGNED_REPLY_TEXT)


# --------------------------------------------------------------------------- score


def test_scoring_the_reply_it_gave(backends: BackendPair) -> None:
    model = backends.aligned
    prompt = chatml(model, "hello")
    events, _ = drain(model.stream(prompt, max_tokens=40, top_k=3))
    reply = [e.id for e in events]
    if not model.capabilities.score_text:
        with pytest.raises(Unsupported):
            model.score(prompt, reply)
        return
    scored = model.score(prompt, reply, top_k=3)
    assert [s.id for s in scored] == reply
    for s, e in zip(scored, events, strict=True):
        assert s.rank == 1 and s.rank_exact and s.rank_text == "1"
        assert s.logprob == pytest.approx(e.logprob, abs=1e-2)
        assert [t.id for t in s.top] == [t.id for t in e.top]


def test_ranks_of_unlikely_tokens(backends: BackendPair) -> None:
    """The aligned reply scored under the base model: mostly not the base's choice."""
    model = backends.base
    if not model.capabilities.score_text:
        pytest.fail("every backend in the suite scores text; see issue 12")
    context = model.tokenize("hello", add_bos=True)
    scored = model.score(context, list(tg.ALIGNED_REPLY), top_k=5)
    k = model.capabilities.max_top_k
    assert any(s.rank > 1 for s in scored)
    for s in scored:
        assert s.rank >= 1 and s.logprob <= 0.0
        if model.capabilities.full_vocab_ranks or s.rank <= k:
            assert s.rank_exact
            top_ids = [t.id for t in s.top]
            assert (s.id in top_ids) == (s.rank <= len(top_ids))
        else:
            assert s.rank == k + 1 and s.rank_text == f">{k}"


def test_an_empty_context_cannot_be_scored(backends: BackendPair) -> None:
    with pytest.raises(ValueError, match="context"):
        backends.base.score([], [tg.SPACE])


def test_full_logit_rows_or_a_refusal(backends: BackendPair) -> None:
    model = backends.base
    context = model.tokenize("hello", add_bos=True)
    rows: list[tuple[int, int]] = []

    def hook(index: int, row: object, _lse: float) -> None:
        rows.append((index, len(row)))  # type: ignore[arg-type]

    if not model.capabilities.logit_rows:
        with pytest.raises(Unsupported):
            model.score(context, [tg.SPACE, tg.SPACE], row_hook=hook)
        return
    model.score(context, [tg.SPACE, tg.SPACE], row_hook=hook)
    assert rows == [(0, model.vocab.size), (1, model.vocab.size)]


def test_the_shift_analysis_runs_on_the_backend(backends: BackendPair) -> None:
    """compare's core: the aligned reply, ranked by the base model, classified."""
    aligned, base = backends.aligned, backends.base
    prompt = chatml(aligned, "hello")
    events, _ = drain(aligned.stream(prompt, max_tokens=40, top_k=5))
    reply = [e.id for e in events]
    result = analyse_reply(
        aligned,
        base,
        producer_context=prompt,
        scorer_context=base.tokenize("hello", add_bos=True),
        reply=reply,
        events=events,
    )
    assert len(result.tokens) == len(reply) and result.vocab == "shared"
    # the KL needs both models' full rows: computed, or left out with the reason
    if aligned.capabilities.logit_rows and base.capabilities.logit_rows:
        assert result.kl_method == "exact" and result.kl_unavailable is None
        assert all(t.kl is not None and t.kl >= 0.0 for t in result.tokens)
    else:
        assert result.kl_method is None and all(t.kl is None for t in result.tokens)
        why = aligned.capabilities.why_not("logit_rows") or base.capabilities.why_not("logit_rows")
        assert why and result.kl_unavailable and why in result.kl_unavailable
    classes = {t.shift for t in result.tokens}
    assert ShiftClass.SHIFTED in classes
    summary = result.summary
    assert summary.shifted + summary.marginal + summary.unshifted == summary.total == len(reply)


# --------------------------------------------------------------------------- close


def test_close_is_idempotent(fresh_backends: BackendPair) -> None:
    model = fresh_backends.base
    _events, done = drain(model.stream(model.tokenize("hello", add_bos=True), max_tokens=2))
    assert done.tokens == 2
    model.close()
    model.close()
