"""Lesson 6: sampling is a choice.

One question, asked several times on both models: every temperature with every seed. The
figure is how much the replies differ (distinct replies, distinct word pairs) and the
entropy of each model's next-token distribution per token: a base model is a distribution
over documents, not an answer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np

from playground.engine.settings import SamplerSettings
from playground.engine.topk import FloatArray
from playground.lessons.base import Lesson, RunOptions
from playground.lessons.document import excerpt
from playground.lessons.figures import Bar, Bars, Bilingual, LessonResult, Series, Table
from playground.lessons.pair import SIDES, LessonPair, Side, Steps, generate, question_prompt
from playground.lessons.questions import QUESTIONS

TEMPERATURES: tuple[float, ...] = (0.0, 0.7, 1.0, 1.5)
SEEDS: tuple[int, ...] = (1, 2, 3)
QUESTION = QUESTIONS[0]

TITLE = Bilingual("Sampling is a choice", "采样是一种选择")
CLAIM = Bilingual(
    "A model gives a distribution; the decoder picks the reply.",
    "模型给出的是一个分布；回复由解码方式选出。",
)
EXPLANATION = Bilingual(
    "Each row asks the same question with three seeds at one temperature. At temperature 0 "
    "(greedy) the seed changes nothing; as the temperature rises the replies part ways, "
    "and they part sooner where the model's next-token entropy is high. Compare the two "
    "models' entropy per token: the base model spreads its probability over many "
    "continuations of the document, the aligned model is sure of fewer, so one sampled "
    "base reply is one draw from a distribution, not the model's answer.",
    "每一行用三个随机种子、在同一温度下问同一个问题。温度为 0（贪心）时种子不起作用；"
    "温度升高后回复开始分岔，而在下一词元熵高的地方分得更早。比较两个模型每个词元的熵："
    "基座模型把概率分散在文档的许多种续写上，对齐模型则确定得多，"
    "所以一次采样得到的基座回复只是分布中的一次抽取，而不是模型的答案。",
)


def entropy_bits(logits: FloatArray, lse: float) -> float:
    """Entropy of softmax(logits) in bits: lse - sum(p * logit), over the finite logits."""
    finite = np.isfinite(logits)
    p = np.exp(logits[finite].astype(np.float64) - lse)
    h = lse - float(np.dot(p, logits[finite].astype(np.float64)))
    return max(0.0, h) / math.log(2)


def reply_entropies(
    pair: LessonPair, side: Side, prompt: Sequence[int], reply: Sequence[int]
) -> list[float]:
    """The model's next-token entropy before each reply token: one teacher-forced pass."""
    out: list[float] = []
    if reply:
        pair.model(side).score(
            prompt, reply, top_k=1, row_hook=lambda _i, row, lse: out.append(entropy_bits(row, lse))
        )
    return out


def distinct_pairs(texts: Sequence[str]) -> float:
    """Distinct word pairs over all word pairs of the replies (distinct-2): 0 to 1."""
    pairs: list[tuple[str, str]] = []
    for t in texts:
        words = t.split()
        pairs.extend(zip(words, words[1:], strict=False))
    return len(set(pairs)) / len(pairs) if pairs else 0.0


def run(pair: LessonPair, options: RunOptions) -> LessonResult:
    t0 = time.perf_counter()
    steps = Steps(len(SIDES) * len(TEMPERATURES) * len(SEEDS), options.progress, options.cancel)
    replies: dict[tuple[Side, float], list[str]] = {}
    entropy: dict[Side, list[float]] = {s: [] for s in SIDES}
    greedy_entropy: dict[Side, list[float]] = {}
    # The entropy needs each position's full distribution; a backend without logit rows
    # (a server that returns only the top k) still runs the rest of the lesson.
    why_not = {s: pair.model(s).capabilities.why_not("logit_rows") for s in SIDES}
    with_rows = all(reason is None for reason in why_not.values())
    for side in SIDES:
        prompt = question_prompt(pair, side, QUESTION.text)
        for temp in TEMPERATURES:
            texts = []
            for seed in SEEDS:
                steps.start(f"{pair.name(side)}: temperature {temp:g}, seed {seed}")
                settings = SamplerSettings(temperature=temp, seed=seed)
                r = generate(
                    pair, side, prompt.ids, settings, options.max_tokens, cancel=options.cancel
                )
                texts.append(r.text)
                if with_rows:
                    h = reply_entropies(pair, side, prompt.ids, r.ids)
                    entropy[side].extend(h)
                    if temp == 0.0 and side not in greedy_entropy:
                        greedy_entropy[side] = h
                steps.finish()
            replies[(side, temp)] = texts

    mean_h = {s: (sum(entropy[s]) / len(entropy[s]) if entropy[s] else 0.0) for s in SIDES}
    rows = []
    for side in SIDES:
        for temp in TEMPERATURES:
            texts = replies[(side, temp)]
            rows.append(
                (
                    side,
                    f"{temp:g}",
                    f"{len(set(texts))}/{len(texts)}",
                    f"{distinct_pairs(texts):.2f}",
                    " | ".join(excerpt(t, 28) for t in texts),
                )
            )
    top_h = max(mean_h.values()) or 1.0
    figures = (
        Table(
            Bilingual(
                "Same question, different seeds and temperatures", "同一问题，不同种子和温度"
            ),
            (
                Bilingual("side", "模型"),
                Bilingual("temperature", "温度"),
                Bilingual("distinct replies", "不同回复数"),
                "distinct-2",
                Bilingual("replies (one per seed)", "回复（每个种子一条）"),
            ),
            tuple(rows),
        ),
        Bars(
            Bilingual("Mean next-token entropy (bits)", "平均下一词元熵（比特）"),
            tuple(Bar(f"{s}: {pair.name(s)}", mean_h[s], f"{mean_h[s]:.2f} bits") for s in SIDES),
            scale=top_h,
        ),
        Series(
            Bilingual(
                "Entropy per token of the greedy reply (bits)", "贪心回复中每个词元的熵（比特）"
            ),
            "token",
            tuple((s, tuple(greedy_entropy.get(s, ()))) for s in SIDES),
        ),
    )
    hot = TEMPERATURES[-1]
    base_hot, aligned_hot = len(set(replies[("base", hot)])), len(set(replies[("aligned", hot)]))
    finding = Bilingual(
        f"At temperature {hot:g} the base model gave {base_hot} different "
        f"replies out of {len(SEEDS)}, the aligned model {aligned_hot}; "
        f"mean entropy {mean_h['base']:.2f} bits (base) against {mean_h['aligned']:.2f} "
        "(aligned).",
        f"温度 {hot:g} 时，基座模型在 {len(SEEDS)} 次中给出 {base_hot} 种不同回复，"
        f"对齐模型 {aligned_hot} 种；平均熵为 {mean_h['base']:.2f} 比特（基座）"
        f"对 {mean_h['aligned']:.2f} 比特（对齐）。",
    )
    return LESSON.result(
        pair,
        finding=finding,
        figures=figures,
        setup=(
            ("question", QUESTION.text),
            ("temperatures", ", ".join(f"{t:g}" for t in TEMPERATURES)),
            ("seeds", ", ".join(str(s) for s in SEEDS)),
            ("max tokens", str(options.max_tokens)),
            ("entropy", "of the model's raw next-token distribution (a teacher-forced pass)"),
        ),
        notes=tuple(
            Bilingual(
                f"No entropy for {pair.name(s)}: {reason}.",
                f"{pair.name(s)} 没有熵：{reason}。",
            )
            for s, reason in why_not.items()
            if reason is not None
        ),
        elapsed_s=time.perf_counter() - t0,
        data={
            "replies": {f"{s}@{t:g}": replies[(s, t)] for s, t in replies},
            "distinct": {f"{s}@{t:g}": len(set(replies[(s, t)])) for s, t in replies},
            "mean_entropy_bits": mean_h,
            "greedy_entropy_bits": greedy_entropy,
        },
    )


LESSON = Lesson(
    name="sampling",
    number=6,
    title=TITLE,
    claim=CLAIM,
    explanation=EXPLANATION,
    run=run,
    max_tokens=24,
)
