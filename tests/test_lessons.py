"""Every lesson on the tiny GGUF pair, its figures checked against the tiny models' design.

What the design fixes (tests/tiny_gguf.py): both models share one vocabulary; the aligned
model, after ChatML's `assistant\\n`, greedily writes ALIGNED_REPLY then <|im_end|>; the base
model writes BASE_CYCLE forever from any context, its designed token 5 to 11 logits above
every other one (noise is clipped to ±3 around a designed logit of 8), and never an
end-of-generation token of its own accord.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

import pytest

from playground.engine.backend import ALL_SETTINGS, TRICK_FIELDS, Capabilities
from playground.engine.llama.model import LlamaModel, LoadOptions
from playground.engine.settings import ADAPTER_RAMP
from playground.lessons import LESSONS, LessonPair, UnknownLesson, get_lesson, run_lesson
from playground.lessons.pair import LessonCancelled, question_prompt
from playground.lessons.questions import QUESTIONS
from playground.lessons.sequence import CONVERSATION, PUBLISHED_TIKTOKENIZER_COUNT
from playground.lessons.text import render
from playground.templates.builtin import gpt4o
from playground.templates.tiktoken_offline import chat_encoding
from tests.tiny_gguf import (
    ALIGNED_REPLY,
    ALIGNED_REPLY_TEXT,
    BASE_CYCLE,
    BASE_CYCLE_TEXT,
    DESIGNED_LOGIT,
    IM_END,
    NOISE_CLIP,
)


@pytest.fixture(scope="module")
def pair(tiny_pair) -> Iterator[LessonPair]:  # type: ignore[no-untyped-def]
    # URIAL's prompt is ~1,800 tokens in the tiny vocabulary (mostly single letters).
    opts = LoadOptions(n_ctx=4096, n_threads=1)
    base, aligned = LlamaModel(tiny_pair.base, opts), LlamaModel(tiny_pair.aligned, opts)
    yield LessonPair(base, aligned)
    base.close()
    aligned.close()


def sentences(text: str) -> list[str]:
    """Split after 。！？, or after . ! ? followed by a capital ("et al. 2023" stays whole)."""
    parts = re.split(r"(?<=[。！？])|(?<=[.!?])\s+(?=[A-Z\"'(“])", text)
    return [p for p in parts if p and p.strip()]


def test_lessons_are_the_six_claims_in_order() -> None:
    assert [ls.name for ls in LESSONS] == [
        "sequence",
        "document",
        "tricks",
        "shift",
        "nudging",
        "sampling",
    ]
    assert get_lesson("3").name == "tricks"
    with pytest.raises(UnknownLesson, match="valid: 1 sequence"):
        get_lesson("nope")
    for ls in LESSONS:
        for text in (ls.explanation.en, ls.explanation.zh):
            assert 2 <= len(sentences(text)) <= 4, (ls.name, sentences(text))


def test_sequence_counts_tokens_as_tiktokenizer_and_each_model(pair: LessonPair) -> None:
    r = run_lesson(get_lesson("sequence"), pair)
    enc = chat_encoding("o200k_base")
    expected = len(enc.encode(gpt4o(CONVERSATION, True, "", ""), allowed_special="all"))
    assert r.data["tiktoken_count"] == expected == PUBLISHED_TIKTOKENIZER_COUNT
    counts = {row[0]: row for row in r.figures[0].rows}  # type: ignore[union-attr]
    # ChatML (the base side's default, its vocabulary has <|im_start|>): BOS, 5 <|im_start|>
    # (4 messages and the generation prompt), 4 <|im_end|>.
    assert counts[pair.name("base")][4] == "10"
    # The aligned model's own GGUF template adds its default system turn: one more of each.
    assert counts[pair.name("aligned")][4] == "12"
    specials = {s["token"]: s for s in r.data["specials"]}
    assert specials["<|im_sep|>"]["in_o200k"] and not specials["<|im_sep|>"]["in_base"]
    assert specials["<|im_start|>"]["in_base"] and specials["<|im_start|>"]["in_aligned"]
    # The base model's designed token beats <|im_end|> by at least 8 - 3 logits everywhere.
    bound = math.exp(-(DESIGNED_LOGIT - NOISE_CLIP) + 0.5)
    assert 0 < specials["<|im_end|>"]["base_max_p"] < bound


def test_document_base_rambles_aligned_answers_and_stops(pair: LessonPair) -> None:
    r = run_lesson(get_lesson("document"), pair, questions=2, max_tokens=18)
    assert r.data["stopped"] == {"base": 0, "aligned": 2}
    replies = r.data["replies"]
    for rec in replies:
        if rec["side"] == "aligned":
            assert rec["text"] == ALIGNED_REPLY_TEXT and rec["length"] == len(ALIGNED_REPLY)
        else:
            assert rec["text"].startswith(BASE_CYCLE_TEXT) and rec["length"] == 18
            assert rec["behaviour"] == "repeats"
    assert r.data["base_behaviour"] == {"repeats": 2}


def test_tricks_the_eos_ramp_and_the_adapter_stop_the_base_model(pair: LessonPair) -> None:
    # The ramp adds 0.06 x L; the designed token leads EOS by at most 8 + 3 logits (+1.5 of
    # the adapter's diversity rule, + a few tenths of context), so by L = 220 EOS must win.
    assert ADAPTER_RAMP * 220 > DESIGNED_LOGIT + NOISE_CLIP + 1.5 + 0.5
    r = run_lesson(get_lesson("tricks"), pair, questions=2, max_tokens=230)
    t = r.data["tricks"]
    assert t["greedy"]["stop_rate"] == 0.0
    assert t["eos_ramp"]["stop_rate"] == 1.0 and t["adapter"]["stop_rate"] == 1.0
    # URIAL's prompt cannot help a model that only knows one cycle of words.
    assert t["urial"]["stop_rate"] == 0.0
    assert all(text.startswith(BASE_CYCLE_TEXT) for text in t["greedy"]["texts"])


def test_shift_no_aligned_token_is_the_base_models_top_choice(pair: LessonPair) -> None:
    r = run_lesson(get_lesson("shift"), pair, questions=2)
    d = r.data
    assert d["total"] == 2 * (len(ALIGNED_REPLY) + 1)
    assert d["counts"]["unshifted"] == 0  # the base model's top choice is always a cycle word
    assert len(d["eot_ranks"]) == 2 and min(d["eot_ranks"]) > 1
    assert [rep["ids"] for rep in d["replies"]] == [[*ALIGNED_REPLY, IM_END]] * 2
    assert sum(sum(row) for row in d["by_decile"]) == d["total"]


def test_nudging_hands_over_exactly_where_the_aligned_model_disagrees(
    pair: LessonPair,
) -> None:
    # Where does the aligned model rank the base model's only choice (a cycle word) after
    # each prefix of its own reply? Outside its top 3 everywhere means it steps in at every
    # token, and the nudged reply is the aligned reply.
    prompt = question_prompt(pair, "aligned", QUESTIONS[0].text)
    reply = [*ALIGNED_REPLY, IM_END]
    ranks = []
    for k in range(len(reply)):
        scored = pair.aligned.score((*prompt.ids, *reply[:k]), [BASE_CYCLE[0]], top_k=1)
        ranks.append(scored[0].rank)
    assert min(ranks) > 3
    r = run_lesson(get_lesson("nudging"), pair, questions=1, max_tokens=20)
    nudged = r.data["nudged"][0]
    assert nudged["text"] == ALIGNED_REPLY_TEXT and nudged["stopped"]
    assert r.data["handed"] == r.data["tokens"] == len(reply)
    assert set(nudged["why"]) == {"outside top 3"}
    assert r.data["alone"]["base"][0]["stopped"] is False
    assert r.data["alone"]["aligned"][0]["text"] == ALIGNED_REPLY_TEXT


def test_sampling_greedy_ignores_the_seed_and_heat_spreads_the_base_model(
    pair: LessonPair,
) -> None:
    r = run_lesson(get_lesson("sampling"), pair, max_tokens=24)
    d = r.data
    assert d["distinct"]["base@0"] == 1 and d["distinct"]["aligned@0"] == 1
    assert d["replies"]["aligned@0"][0] == ALIGNED_REPLY_TEXT
    # At temperature 1.5 the designed token keeps about 30% of the mass: 24 draws per seed
    # cannot come out the same for three seeds.
    assert d["distinct"]["base@1.5"] > 1
    h = d["mean_entropy_bits"]
    assert 0 < h["base"] < math.log2(pair.base.vocab.size)
    assert len(d["greedy_entropy_bits"]["aligned"]) == len(ALIGNED_REPLY) + 1


def test_progress_is_reported_and_cancel_stops(pair: LessonPair) -> None:
    seen: list[tuple[int, int, str]] = []
    run_lesson(
        get_lesson("document"),
        pair,
        questions=1,
        max_tokens=4,
        progress=lambda d, t, w: seen.append((d, t, w)),
    )
    assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1] == 2
    with pytest.raises(LessonCancelled):
        run_lesson(get_lesson("document"), pair, questions=1, cancel=lambda: True)


def test_text_render_in_both_languages(pair: LessonPair) -> None:
    r = run_lesson(get_lesson("document"), pair, questions=1, max_tokens=8)
    en = render(r, "en", width=60)
    zh = render(r, "zh", width=60)
    assert "document simulator" in en and "文档模拟器" in zh
    assert r.to_json("zh")["title"] == "基座模型是文档模拟器"
    # the tables' headers follow the language too, in the terminal and in the report
    assert "mean length (tokens)" in en and "平均长度（词元）" not in en
    assert "平均长度（词元）" in zh and "mean length (tokens)" not in zh
    table = r.to_json("zh")["figures"][1]
    assert table["columns"] == ["", "停止", "回答", "平均长度（词元）"]


class _TopKOnly:
    """The tiny model as a server would offer it: no raw logits, so no tricks and no rows."""

    def __init__(self, inner: LlamaModel) -> None:
        self._inner = inner
        self.capabilities = Capabilities(
            max_top_k=inner.vocab.size,
            logit_tricks=False,
            logit_rows=False,
            settings=ALL_SETTINGS - TRICK_FIELDS,
            reasons={"logit_tricks": "a server returns only the top k", "logit_rows": "top k only"},
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_backend_without_logits_runs_what_it_can_and_says_what_not(pair: LessonPair) -> None:
    limited = LessonPair(_TopKOnly(pair.base), _TopKOnly(pair.aligned))  # type: ignore[arg-type]
    tricks = run_lesson(get_lesson("tricks"), limited, questions=1, max_tokens=8)
    assert set(tricks.data["tricks"]) == {"greedy", "urial"}
    left_out = [n.en for n in tricks.notes if n.en.startswith("Left out")]
    assert len(left_out) == 2 and all("a server returns only the top k" in n for n in left_out)
    seq = run_lesson(get_lesson("sequence"), limited)
    assert all(s["base_max_p"] is None for s in seq.data["specials"])
    assert "top k only" in seq.notes[0].en
    samp = run_lesson(get_lesson("sampling"), limited, max_tokens=4)
    assert samp.data["mean_entropy_bits"] == {"base": 0.0, "aligned": 0.0}
    assert len(samp.notes) == 2
