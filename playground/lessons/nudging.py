"""Lesson 5: a few tokens make the difference.

Nudging (Fei et al. 2024): the base model writes the reply, and the aligned model steps in
only where the base model's token is one it would not have written (ranked outside its top
3, URIAL's view) or where the base model is unsure (its top choice below a probability
threshold, the paper's trigger). There the aligned model's token is used, and the base
model goes on from it. Across vocabularies the two models hand each other text, which each
re-tokenizes.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from playground.engine.types import TokenEvent
from playground.lessons.base import Lesson, RunOptions, frac, pct
from playground.lessons.document import excerpt
from playground.lessons.figures import (
    Bar,
    Bars,
    Bilingual,
    LessonResult,
    StripToken,
    Table,
    TokenStrip,
)
from playground.lessons.pair import SIDES, LessonPair, Side, Steps, generate, question_prompt
from playground.lessons.questions import Question, answered
from playground.sampling.presets import GREEDY
from playground.templates.tokenview import visible_piece

TOP = 3
"""The base model's token must be in the aligned model's top 3."""
UNSURE = 0.4
"""The base model is unsure when its top choice has less than this probability."""

TITLE = Bilingual("A few tokens make the difference", "几个词元决定差别")
CLAIM = Bilingual(
    "A base model that lets an aligned model write a few of its tokens answers and stops.",
    "让对齐模型替它写少数几个词元，基座模型就会回答并停下。",
)
EXPLANATION = Bilingual(
    "The base model writes; the aligned model takes over a token only where the base "
    "model's choice is outside the aligned model's top 3, or where the base model is "
    "unsure (top choice below 40%). Look at the share handed over and at which tokens they "
    'are: often the opening words and the end of the turn. In "Nudging" (Fei et al. '
    "2024) a small aligned model that writes only a small share of the tokens brings a "
    "large base model close to its aligned sibling, even across vocabularies.",
    "由基座模型书写；只有当基座模型选的词元不在对齐模型的前 3 名之内，或基座模型没有把握"
    "（首选概率低于 40%）时，对齐模型才接手这个词元。请看交出去的比例以及是哪些词元："
    "常常是开头的几个词和轮次结束。在《Nudging》（Fei 等，2024）中，一个小的对齐模型只写很小一部分"
    "词元，就能让大的基座模型接近其对齐版本，即使两者词表不同。",
)


@dataclass(frozen=True)
class Step:
    base_piece: bytes
    chosen_piece: bytes
    handed: bool
    """The aligned model's token replaced the base model's."""
    why: str
    """'outside top 3', 'base unsure', or '' when the base model's token stood."""
    eog: bool


@dataclass(frozen=True)
class Nudged:
    text: str
    stopped: bool
    steps: tuple[Step, ...]

    @property
    def handed(self) -> int:
        return sum(s.handed for s in self.steps)


def _next(pair: LessonPair, side: Side, ids: Sequence[int], options: RunOptions) -> TokenEvent:
    reply = generate(pair, side, ids, GREEDY, 1, cancel=options.cancel, top_k=TOP)
    return reply.events[0]


def _in_top(pair: LessonPair, base_tok: TokenEvent, aligned_tok: TokenEvent, shared: bool) -> bool:
    """Whether the aligned model ranks the base model's choice in its top TOP."""
    top = [t.id for t in aligned_tok.top[:TOP]]
    if shared:
        return base_tok.id in top
    if base_tok.is_eog:
        return any(i in pair.aligned.vocab.eog for i in top)
    ids = pair.aligned.tokenize(base_tok.piece, special=False, add_bos=False)
    return bool(ids) and ids[0] in top


def _same(a: TokenEvent, b: TokenEvent, shared: bool) -> bool:
    if shared:
        return a.id == b.id
    return (a.is_eog and b.is_eog) or (not a.is_eog and not b.is_eog and a.piece == b.piece)


def nudge(pair: LessonPair, q: Question, options: RunOptions) -> Nudged:
    """The base model writes, the aligned model steps in (greedy on both sides)."""
    bp = question_prompt(pair, "base", q.text)
    ap = question_prompt(pair, "aligned", q.text)
    shared = pair.shared_vocab()
    base_ids: list[int] = []
    aligned_ids: list[int] = []
    text = bytearray()
    steps: list[Step] = []
    stopped = False
    for _ in range(options.max_tokens):
        b = _next(pair, "base", (*bp.ids, *base_ids), options)
        a = _next(pair, "aligned", (*ap.ids, *aligned_ids), options)
        outside = not _in_top(pair, b, a, shared)
        unsure = b.top[0].prob < UNSURE
        use_aligned = (outside or unsure) and not _same(b, a, shared)
        why = ("outside top 3" if outside else "base unsure") if use_aligned else ""
        chosen = a if use_aligned else b
        steps.append(Step(b.piece, chosen.piece, use_aligned, why, chosen.is_eog))
        if chosen.is_eog:
            stopped = True
            break
        text += chosen.piece
        if shared:
            base_ids.append(chosen.id)
            aligned_ids.append(chosen.id)
        elif use_aligned:
            # Hand the text over: the base model re-tokenizes the reply so far.
            aligned_ids.append(a.id)
            base_ids = pair.base.tokenize(bytes(text), special=False, add_bos=False)
        else:
            base_ids.append(b.id)
            aligned_ids = pair.aligned.tokenize(bytes(text), special=False, add_bos=False)
    return Nudged(bytes(text).decode("utf-8", "replace"), stopped, tuple(steps))


def run(pair: LessonPair, options: RunOptions) -> LessonResult:
    t0 = time.perf_counter()
    questions = options.question_list()
    steps = Steps(len(questions) * 3, options.progress, options.cancel)
    nudged: list[Nudged] = []
    alone: dict[str, list[tuple[str, bool, int]]] = {"base": [], "aligned": []}
    for q in questions:
        steps.start(f"nudged: {q.text}")
        nudged.append(nudge(pair, q, options))
        steps.finish()
        for side in SIDES:
            steps.start(f"{pair.name(side)} alone: {q.text}")
            p = question_prompt(pair, side, q.text)
            r = generate(pair, side, p.ids, GREEDY, options.max_tokens, cancel=options.cancel)
            alone[side].append((r.text, r.stopped, r.length))
            steps.finish()

    n = len(questions)
    total_tokens = sum(len(x.steps) for x in nudged)
    handed = sum(x.handed for x in nudged)
    share = handed / total_tokens if total_tokens else 0.0

    def row(label: str, texts: list[tuple[str, bool, int]], extra: str) -> tuple[str, ...]:
        ans = sum(answered(t, q) for (t, _, _), q in zip(texts, questions, strict=True))
        stops = sum(s for _, s, _ in texts)
        mean = sum(length for _, _, length in texts) / n
        return (label, frac(ans, n), frac(stops, n), f"{mean:.1f}", extra)

    nudged_rows = [(x.text, x.stopped, len(x.steps) - (1 if x.stopped else 0)) for x in nudged]
    compare = (
        row(f"base alone: {pair.name('base')}", alone["base"], "0%"),
        row("base, nudged", nudged_rows, f"{handed}/{total_tokens} ({pct(share)})"),
        row(f"aligned alone: {pair.name('aligned')}", alone["aligned"], "100%"),
    )
    swaps = Counter(
        (
            visible_piece(s.base_piece),
            "<end of turn>" if s.eog else visible_piece(s.chosen_piece),
            s.why,
        )
        for x in nudged
        for s in x.steps
        if s.handed
    )
    first = nudged[0]
    figures = (
        Table(
            Bilingual("Answers and stops: alone and nudged", "回答与停止：单独与被引导"),
            (
                "",
                Bilingual("answers", "回答"),
                Bilingual("stops", "停止"),
                Bilingual("mean length", "平均长度"),
                Bilingual("tokens by aligned", "对齐模型写的词元"),
            ),
            compare,
        ),
        Bars(
            Bilingual(
                "Share of tokens the aligned model wrote, per question",
                "每个问题中由对齐模型写的词元比例",
            ),
            tuple(
                Bar(
                    excerpt(q.text, 32),
                    x.handed / len(x.steps) if x.steps else 0.0,
                    f"{x.handed}/{len(x.steps)}",
                )
                for q, x in zip(questions, nudged, strict=True)
            ),
        ),
        Table(
            Bilingual("Tokens handed over", "交给对齐模型的词元"),
            (
                Bilingual("base wanted", "基座模型想写"),
                Bilingual("aligned wrote", "对齐模型写了"),
                Bilingual("why", "原因"),
                Bilingual("times", "次数"),
            ),
            tuple((b, a, why, str(k)) for (b, a, why), k in swaps.most_common(12)),
        ),
        TokenStrip(
            Bilingual(f"Nudged reply: {questions[0].text}", f"被引导的回复：{questions[0].text}"),
            tuple(
                StripToken(
                    "<end of turn>" if s.eog else visible_piece(s.chosen_piece),
                    "handed" if s.handed else "",
                    f"base wanted {visible_piece(s.base_piece)!r} ({s.why})" if s.handed else "",
                )
                for s in first.steps
            ),
            tags=(("handed", Bilingual("written by the aligned model", "由对齐模型写出")),),
        ),
    )
    nudged_stops = sum(x.stopped for x in nudged)
    nudged_ans = sum(answered(x.text, q) for x, q in zip(nudged, questions, strict=True))
    finding = Bilingual(
        f"The aligned model wrote {handed} of {total_tokens} tokens ({pct(share)}); the nudged "
        f"base model answered {nudged_ans}/{n} and stopped {nudged_stops}/{n}, against "
        f"{sum(s for _, s, _ in alone['base'])}/{n} stops for the base model alone.",
        f"对齐模型写了 {total_tokens} 个词元中的 {handed} 个（{pct(share)}）；"
        f"被引导的基座模型回答了 {nudged_ans}/{n}，停止了 {nudged_stops}/{n}，"
        f"而单独的基座模型只停止了 {sum(s for _, s, _ in alone['base'])}/{n}。",
    )
    notes = []
    if not pair.shared_vocab():
        notes.append(
            Bilingual(
                "The two models have different vocabularies, so they hand each other text: "
                "after every token the other model re-tokenizes the reply so far. The base "
                "model's token counts as in the aligned top 3 when the first token of its "
                "text, re-tokenized by the aligned model, is one of the aligned model's top 3.",
                "两个模型的词表不同，所以它们互相交接文本：每写一个词元，另一个模型就重新对目前的回复分词。"
                "把基座模型词元的文本用对齐模型重新分词，若第一个词元在对齐模型的前 3 名之内，"
                "就算作在前 3 名之内。",
            )
        )
    return LESSON.result(
        pair,
        finding=finding,
        figures=figures,
        setup=(
            ("questions", str(n)),
            ("trigger", f"base token outside the aligned top {TOP}, or base top-1 p < {UNSURE}"),
            ("decoding", "greedy on both sides"),
            ("max tokens", str(options.max_tokens)),
            (
                "vocabulary",
                "shared (ids)" if pair.shared_vocab() else "different (text handed over)",
            ),
        ),
        notes=tuple(notes),
        elapsed_s=time.perf_counter() - t0,
        data={
            "n": n,
            "handed": handed,
            "tokens": total_tokens,
            "share": share,
            "nudged": [
                {
                    "text": x.text,
                    "stopped": x.stopped,
                    "handed": [i for i, s in enumerate(x.steps) if s.handed],
                    "why": [s.why for s in x.steps],
                }
                for x in nudged
            ],
            "alone": {
                side: [{"text": t, "stopped": s, "length": k} for t, s, k in rs]
                for side, rs in alone.items()
            },
        },
    )


LESSON = Lesson(
    name="nudging",
    number=5,
    title=TITLE,
    claim=CLAIM,
    explanation=EXPLANATION,
    run=run,
    max_tokens=48,
)
