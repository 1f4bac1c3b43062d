"""Lesson 4: alignment moves few tokens.

URIAL's token distribution shift (Lin et al. 2023): the aligned model answers each question
(greedy, its own template); the base model reads the same query in URIAL's plain
`# Query:` / `# Answer:` layout and the aligned reply, and every reply token is ranked in
the base model's distribution. Most tokens are the base model's own top choice; the few
that are not are style, and the end of the turn.
"""

from __future__ import annotations

import time
from collections import defaultdict

from playground.analysis.contexts import URIAL_TEMPLATE
from playground.analysis.shift import DECILES, ShiftAnalysis, ShiftClass, analyse_reply
from playground.engine.settings import SamplerSettings
from playground.lessons.base import Lesson, RunOptions, pct
from playground.lessons.figures import (
    Bar,
    Bars,
    Bilingual,
    Figure,
    LessonResult,
    StackedBars,
    StackedRow,
    StripToken,
    Table,
    TokenStrip,
)
from playground.lessons.pair import LessonPair, Steps, generate, question_prompt
from playground.templates.tokenview import visible_piece

MOST = 10

TITLE = Bilingual("Alignment moves few tokens", "对齐只改动少数词元")
CLAIM = Bilingual(
    "Under the base model, most of an aligned reply is unchanged; the shifted tokens are "
    "style and the end of the turn.",
    "在基座模型看来，对齐模型的回复大部分没有变化；发生偏移的词元是风格词和轮次结束。",
)
EXPLANATION = Bilingual(
    "Each token of the aligned model's reply is ranked in the base model's next-token "
    "distribution: rank 1 is unshifted, 2-3 marginal, 4 or worse shifted. URIAL (Lin et "
    "al. 2023) reports about 5-8% shifted tokens for 7B pairs, mostly discourse markers, "
    "safety phrases and the end-of-turn token; look at the most-shifted list and at where "
    "the end-of-turn token ranks. Small models from different families shift more, and "
    "across vocabularies the ranks are of re-tokenized text, an approximation.",
    "对齐模型回复中的每个词元都在基座模型的下一词元分布中排名：第 1 名为未偏移，第 2–3 名为边缘，"
    "第 4 名及以后为偏移。URIAL（Lin 等，2023）报告 7B 模型对约有 5–8% 的词元发生偏移，"
    "多为话语标记、安全用语和轮次结束词元；请看偏移最大的词元列表，以及轮次结束词元的排名。"
    "来自不同家族的小模型偏移更多；词表不同时，排名是对重新分词后文本的近似。",
)


def run(pair: LessonPair, options: RunOptions) -> LessonResult:
    t0 = time.perf_counter()
    questions = options.question_list()
    steps = Steps(len(questions) * 2, options.progress, options.cancel)
    analyses: list[tuple[str, ShiftAnalysis, bool]] = []
    settings = SamplerSettings(max_tokens=options.max_tokens)
    aligned_template = base_template = ""
    for q in questions:
        steps.start(f"{pair.name('aligned')} answers: {q.text}")
        ap = question_prompt(pair, "aligned", q.text)
        aligned_template = ap.template
        reply = generate(
            pair, "aligned", ap.ids, settings, options.max_tokens, cancel=options.cancel, top_k=5
        )
        steps.finish()
        steps.start(f"{pair.name('base')} ranks the reply: {q.text}")
        bp = question_prompt(pair, "base", q.text, template=URIAL_TEMPLATE)
        base_template = bp.template
        if reply.ids:
            a = analyse_reply(
                pair.aligned,
                pair.base,
                producer_context=ap.ids,
                scorer_context=bp.ids,
                reply=reply.ids,
                events=reply.events,
                with_kl=False,
            )
            analyses.append((q.text, a, reply.stopped))
        steps.finish()

    total = sum(a.summary.total for _, a, _ in analyses)
    counts = {
        ShiftClass.UNSHIFTED: sum(a.summary.unshifted for _, a, _ in analyses),
        ShiftClass.MARGINAL: sum(a.summary.marginal for _, a, _ in analyses),
        ShiftClass.SHIFTED: sum(a.summary.shifted for _, a, _ in analyses),
    }
    ratio = {c: (counts[c] / total if total else 0.0) for c in ShiftClass}
    deciles = [[0, 0, 0] for _ in range(DECILES)]
    for _, a, _ in analyses:
        for d, row in enumerate(a.summary.by_decile):
            for k in range(3):
                deciles[d][k] += row[k]

    # The most-shifted tokens over all replies: how often each piece was shifted, and the
    # worst rank the base model gave it.
    shifted: dict[str, list[int]] = defaultdict(list)
    for _, a, _ in analyses:
        for t in a.tokens:
            if t.shift is ShiftClass.SHIFTED:
                shifted[visible_piece(t.piece)].append(t.other_rank)
    most = sorted(shifted.items(), key=lambda kv: (-len(kv[1]), -max(kv[1]), kv[0]))[:MOST]

    eot_rows = []
    eot_ranks: list[int] = []
    for text, a, stopped in analyses:
        last = a.tokens[-1]
        if stopped:
            eot_ranks.append(last.other_rank)
            eot_rows.append(
                (text, visible_piece(last.piece), str(last.other_rank), last.shift.value)
            )
        else:
            eot_rows.append((text, "-", "-", "the reply did not end within the budget"))

    cross = not pair.shared_vocab()
    approx = sum(a.summary.approximate for _, a, _ in analyses)
    first = analyses[0][1] if analyses else None
    figures: list[Figure] = [
        Bars(
            Bilingual("Tokens of the aligned replies, by class", "对齐模型回复的词元，按类别"),
            tuple(
                Bar(c.value, ratio[c], f"{counts[c]}/{total} ({pct(ratio[c])})") for c in ShiftClass
            ),
        ),
        StackedBars(
            Bilingual(
                "Where in the reply the shifts fall (tenths)", "偏移落在回复的哪个位置（十分位）"
            ),
            tuple(c.value for c in ShiftClass),
            tuple(
                StackedRow(f"{d * 10}-{d * 10 + 10}%", (row[0], row[1], row[2]))
                for d, row in enumerate(deciles)
            ),
        ),
        Table(
            Bilingual("Most-shifted tokens", "偏移最大的词元"),
            (
                Bilingual("token", "词元"),
                Bilingual("times shifted", "偏移次数"),
                Bilingual("worst rank", "最差排名"),
            ),
            tuple((piece, str(len(r)), str(max(r))) for piece, r in most),
        ),
        Table(
            Bilingual(
                "Where the end-of-turn token ranks under the base model",
                "轮次结束词元在基座模型下的排名",
            ),
            (
                Bilingual("question", "问题"),
                Bilingual("token", "词元"),
                Bilingual("base rank", "基座模型排名"),
                Bilingual("class", "类别"),
            ),
            tuple(eot_rows),
        ),
    ]
    if first is not None:
        figures.append(
            TokenStrip(
                Bilingual(f"First reply: {analyses[0][0]}", f"第一条回复：{analyses[0][0]}"),
                tuple(
                    StripToken(
                        visible_piece(t.piece),
                        t.shift.value,
                        f"base rank {t.other_rank}" + (" (approx.)" if t.approximate else ""),
                    )
                    for t in first.tokens
                ),
                tags=(
                    ("unshifted", Bilingual("rank 1", "第 1 名")),
                    ("marginal", Bilingual("rank 2-3", "第 2–3 名")),
                    ("shifted", Bilingual("rank 4+", "第 4 名以后")),
                ),
            )
        )
    eot_text = ", ".join(str(r) for r in eot_ranks) or "-"
    n_shifted, shifted_pct = counts[ShiftClass.SHIFTED], pct(ratio[ShiftClass.SHIFTED])
    unshifted_pct = pct(ratio[ShiftClass.UNSHIFTED])
    finding = Bilingual(
        f"{n_shifted} of {total} tokens shifted ({shifted_pct}), {unshifted_pct} unshifted; "
        f"the end-of-turn token ranked {eot_text} under the base model.",
        f"{total} 个词元中有 {n_shifted} 个偏移（{shifted_pct}），"
        f"{unshifted_pct} 未偏移；轮次结束词元在基座模型下排名 {eot_text}。",
    )
    notes = []
    if cross:
        notes.append(
            Bilingual(
                f"The two models have different vocabularies: the reply text was re-tokenized "
                f"by the base model and paired by byte offset; {approx} of {total} tokens "
                "split differently and are approximate. The end of turn is mapped to the base "
                "model's own end-of-turn token.",
                "两个模型的词表不同：回复文本由基座模型重新分词并按字节偏移配对；"
                f"{total} 个词元中有 {approx} 个切分不同，属于近似。"
                "轮次结束映射为基座模型自己的轮次结束词元。",
            )
        )
    return LESSON.result(
        pair,
        finding=finding,
        figures=tuple(figures),
        setup=(
            ("questions", str(len(questions))),
            ("aligned reply", f"greedy, {aligned_template} template, max {options.max_tokens}"),
            ("base context", f"{base_template} (URIAL's plain layout)"),
            ("vocabulary", "aligned by text" if cross else "shared"),
        ),
        notes=tuple(notes),
        elapsed_s=time.perf_counter() - t0,
        data={
            "total": total,
            "counts": {c.value: counts[c] for c in ShiftClass},
            "ratios": {c.value: ratio[c] for c in ShiftClass},
            "by_decile": deciles,
            "most_shifted": [{"piece": p, "times": len(r), "worst_rank": max(r)} for p, r in most],
            "eot_ranks": eot_ranks,
            "approximate": approx,
            "replies": [
                {
                    "question": text,
                    "stopped": stopped,
                    "ranks": [t.other_rank for t in a.tokens],
                    "ids": [t.id for t in a.tokens],
                }
                for text, a, stopped in analyses
            ],
        },
    )


LESSON = Lesson(
    name="shift",
    number=4,
    title=TITLE,
    claim=CLAIM,
    explanation=EXPLANATION,
    run=run,
)
