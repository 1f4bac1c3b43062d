"""Lesson 3: tricks without training.

The base model alone, four ways: greedy in its own template (the reference), the EOS ramp
alone, the rule-based adapter's three rules (Hewitt et al. 2024), and URIAL's in-context
prompt (Lin et al. 2023). The figure is how often the base model then ends its reply on its
own, and answers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from playground.engine.settings import ADAPTER_RAMP, ADAPTER_RAMP_END, SamplerSettings
from playground.engine.types import StopReason
from playground.lessons.base import Lesson, RunOptions, frac, pct
from playground.lessons.figures import Bar, Bars, Bilingual, LessonResult, Table
from playground.lessons.pair import LessonPair, Reply, Steps, generate, question_prompt
from playground.lessons.questions import Question, answered
from playground.sampling.presets import ADAPTER, GREEDY, URIAL

URIAL_SEED = 1
"""URIAL samples (temperature 0.3): a fixed seed keeps the lesson repeatable."""

TITLE = Bilingual("Tricks without training", "无需训练的技巧")
CLAIM = Bilingual(
    "A few logit biases or a good prompt make a base model stop and answer.",
    "几个对数几率偏置或一个好的提示，就能让基座模型回答并停下。",
)
EXPLANATION = Bilingual(
    "Read the bars from top to bottom: the base model alone rarely stops, and each trick "
    "changes only a handful of logits or the prompt, never a weight. The EOS ramp adds "
    "0.06 per generated token to the end-of-sequence logit; the adapter adds two more "
    "rules (15 token biases and a diversity penalty); URIAL shows three worked examples "
    "and ends an answer at its own '# Query' marker. Hewitt et al. report that the adapter "
    "lifts the base model's AlpacaEval win rate against an instruction-tuned model from "
    "2.4% to 24%: a judged win rate, a different measure from the stop and answer rates "
    "here.",
    "从上往下看条形：单独的基座模型很少停下，而每个技巧只改动少数几个对数几率或提示，从不改动权重。"
    "EOS 斜坡每生成一个词元就给序列结束词元的对数几率加 0.06；适配器再加两条规则"
    "（15 个词元偏置和一个多样性惩罚）；URIAL 给出三个示例，并在它自己的“# Query”标记处结束回答。"
    "Hewitt 等人报告，适配器让基座模型在 AlpacaEval 上对指令微调模型的胜率从 2.4% 提高到 24%："
    "那是评判出来的胜率，与这里的停止率和回答率是不同的度量。",
)


@dataclass(frozen=True)
class Trick:
    key: str
    label: str
    settings: SamplerSettings
    template: str | None = None
    """None: the base side's own template."""
    layout_ends: bool = False
    """The layout's own end marker counts as ending on its own (URIAL's '# Query')."""


ALL_TRICKS: tuple[Trick, ...] = (
    Trick("greedy", "greedy (no trick)", GREEDY),
    Trick(
        "eos_ramp",
        f"EOS ramp (+{ADAPTER_RAMP} x L)",
        GREEDY.replace(eos_ramp=ADAPTER_RAMP, eos_ramp_end=ADAPTER_RAMP_END),
    ),
    Trick("adapter", "adapter: 3 rules", ADAPTER),
    Trick(
        "urial",
        "URIAL prompt",
        URIAL.replace(seed=URIAL_SEED, stop=()),
        template="urial",
        layout_ends=True,
    ),
)


def ended(reply: Reply, trick: Trick) -> bool:
    return reply.reason is StopReason.EOG or (
        trick.layout_ends and reply.reason is StopReason.STOP_STRING
    )


@dataclass(frozen=True)
class TrickStats:
    stopped: int
    """Ended on its own (see `ended`)."""
    eog: int
    """Ended by an end-of-generation token."""
    answered: int
    mean_length: float
    texts: tuple[str, ...]
    reasons: tuple[str, ...]

    @property
    def stop_rate(self) -> float:
        return self.stopped / len(self.texts) if self.texts else 0.0


def _stats(trick: Trick, replies: Sequence[Reply], questions: Sequence[Question]) -> TrickStats:
    n = max(1, len(replies))
    return TrickStats(
        stopped=sum(ended(r, trick) for r in replies),
        eog=sum(r.reason is StopReason.EOG for r in replies),
        answered=sum(answered(r.text, q) for r, q in zip(replies, questions, strict=True)),
        mean_length=sum(r.length for r in replies) / n,
        texts=tuple(r.text for r in replies),
        reasons=tuple(r.reason.value for r in replies),
    )


def run(pair: LessonPair, options: RunOptions) -> LessonResult:
    t0 = time.perf_counter()
    questions = options.question_list()
    # A backend that never sees the raw logits (a server) cannot apply the logit tricks:
    # those are left out and the reason is shown, the rest of the lesson runs.
    caps = pair.base.capabilities
    skipped = {
        t.key: caps.why_not(names[0])
        for t in ALL_TRICKS
        if (names := caps.unsupported_settings(t.settings))
    }
    tricks = tuple(t for t in ALL_TRICKS if t.key not in skipped)
    steps = Steps(len(questions) * len(tricks), options.progress, options.cancel)
    results: dict[str, list[Reply]] = {t.key: [] for t in tricks}
    templates: dict[str, str] = {}
    for trick in tricks:
        for q in questions:
            steps.start(f"{trick.label}: {q.text}")
            prompt = question_prompt(pair, "base", q.text, template=trick.template)
            templates[trick.key] = prompt.template
            stop = prompt.stop if trick.layout_ends else ()
            results[trick.key].append(
                generate(
                    pair,
                    "base",
                    prompt.ids,
                    trick.settings,
                    options.max_tokens,
                    stop=stop,
                    cancel=options.cancel,
                )
            )
            steps.finish()

    n = len(questions)
    stats = {t.key: _stats(t, results[t.key], questions) for t in tricks}
    figures = (
        Bars(
            Bilingual("Base model stops on its own", "基座模型自行停止"),
            tuple(
                Bar(t.label, stats[t.key].stopped / n, frac(stats[t.key].stopped, n))
                for t in tricks
            ),
        ),
        Bars(
            Bilingual("Base model answers", "基座模型给出答案"),
            tuple(
                Bar(t.label, stats[t.key].answered / n, frac(stats[t.key].answered, n))
                for t in tricks
            ),
        ),
        Table(
            Bilingual("Each trick on the base model", "基座模型上的每个技巧"),
            (
                Bilingual("trick", "技巧"),
                Bilingual("template", "模板"),
                Bilingual("ends on its own", "自行结束"),
                Bilingual("by end token", "由结束词元"),
                Bilingual("answers", "回答"),
                Bilingual("mean length", "平均长度"),
            ),
            tuple(
                (
                    t.label,
                    templates[t.key],
                    frac(stats[t.key].stopped, n),
                    frac(stats[t.key].eog, n),
                    frac(stats[t.key].answered, n),
                    f"{stats[t.key].mean_length:.1f}",
                )
                for t in tricks
            ),
        ),
    )
    best = max(tricks[1:] or tricks, key=lambda t: stats[t.key].stopped)
    g, b = stats["greedy"], stats[best.key]
    finding = Bilingual(
        f"Greedy, the base model ended {g.stopped}/{n} replies on its own; with "
        f"{best.label} it ended {b.stopped}/{n} ({pct(b.stop_rate)}).",
        f"贪心解码时，基座模型自行结束了 {g.stopped}/{n} 条回复；使用“{best.label}”时结束了 "
        f"{b.stopped}/{n} 条（{pct(b.stop_rate)}）。",
    )
    return LESSON.result(
        pair,
        finding=finding,
        figures=figures,
        setup=(
            ("model", pair.name("base")),
            ("questions", str(n)),
            ("max tokens", str(options.max_tokens)),
            *((t.label, t.settings.describe()) for t in tricks),
        ),
        notes=(
            *(
                Bilingual(
                    f"Left out: {t.label}, since {pair.name('base')} cannot apply it: "
                    f"{skipped[t.key]}.",
                    f"未运行：{t.label}，因为 {pair.name('base')} 无法应用它：{skipped[t.key]}。",
                )
                for t in ALL_TRICKS
                if t.key in skipped
            ),
            Bilingual(
                "URIAL's reply counts as ended when the model writes the layout's own end "
                "marker ('# Query' or the closing fence); the others only by an "
                "end-of-generation token.",
                "URIAL 的回复在模型写出该格式自己的结束标记（“# Query”或结束围栏）时算作结束；"
                "其他方式只按生成结束词元计算。",
            ),
        ),
        elapsed_s=time.perf_counter() - t0,
        data={
            "n": n,
            "tricks": {k: {**asdict(v), "stop_rate": v.stop_rate} for k, v in stats.items()},
        },
    )


LESSON = Lesson(
    name="tricks",
    number=3,
    title=TITLE,
    claim=CLAIM,
    explanation=EXPLANATION,
    run=run,
    max_tokens=96,
)
