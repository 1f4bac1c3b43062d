"""Lesson 2: the base model is a document simulator.

Both models get the same everyday questions with the default settings (greedy, no stop
strings, each in its own template). The aligned model answers and ends its turn; the base
model continues the document: it invents the next turn, repeats itself, or drifts.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from playground.engine.settings import SamplerSettings
from playground.lessons.base import Lesson, RunOptions, frac, pct
from playground.lessons.figures import Bar, Bars, Bilingual, LessonResult, Table
from playground.lessons.pair import SIDES, LessonPair, Reply, Steps, generate, question_prompt
from playground.lessons.questions import BEHAVIOUR_ZH, Behaviour, Question, answered, behaviour

TITLE = Bilingual("The base model is a document simulator", "基座模型是文档模拟器")
CLAIM = Bilingual(
    "A base model continues the text; only an aligned model answers and stops.",
    "基座模型只会续写文本；只有对齐后的模型会回答并停下。",
)
EXPLANATION = Bilingual(
    "Compare the two stop-rate bars: the aligned model ends its turn with its end-of-turn "
    "token, the base model runs until the token budget cuts it off. The table says what "
    "the base model does instead: it writes the next 'User:' turn itself, repeats a line, "
    "or drifts away, because in its training documents a question is followed by more "
    "document. This is the behaviour that post-training changes; no stop string hides it "
    "here.",
    "比较两根停止率条形：对齐模型用它的轮次结束词元结束回答，基座模型一直写到词元预算用完。"
    "表格列出基座模型转而做了什么：自己写出下一轮“User:”、重复一行，或者跑题——"
    "因为在它的训练文档里，问题之后仍是文档。后训练改变的正是这种行为；这里没有用停止字符串把它遮住。",
)


def excerpt(text: str, n: int = 48) -> str:
    flat = text.replace("\n", "↵ ")
    return flat if len(flat) <= n else flat[: n - 1] + "…"


@dataclass(frozen=True)
class SideStats:
    stopped: int
    answered: int
    mean_length: float
    behaviour: Counter[str]


def side_stats(replies: Sequence[Reply], questions: Sequence[Question]) -> SideStats:
    n = max(1, len(replies))
    return SideStats(
        stopped=sum(r.stopped for r in replies),
        answered=sum(answered(r.text, q) for r, q in zip(replies, questions, strict=True)),
        mean_length=sum(r.length for r in replies) / n,
        behaviour=Counter(behaviour(r.text, r.ids, r.stopped).value for r in replies),
    )


def run(pair: LessonPair, options: RunOptions) -> LessonResult:
    t0 = time.perf_counter()
    questions = options.question_list()
    steps = Steps(len(questions) * 2, options.progress, options.cancel)
    settings = SamplerSettings(max_tokens=options.max_tokens)
    replies: dict[str, list[Reply]] = {s: [] for s in SIDES}
    templates: dict[str, str] = {}
    for q in questions:
        for side in SIDES:
            steps.start(f"{pair.name(side)}: {q.text}")
            prompt = question_prompt(pair, side, q.text)
            templates[side] = prompt.template
            replies[side].append(
                generate(
                    pair, side, prompt.ids, settings, options.max_tokens, cancel=options.cancel
                )
            )
            steps.finish()

    n = len(questions)
    stats = {side: side_stats(replies[side], questions) for side in SIDES}
    rows = []
    records = []
    for i, q in enumerate(questions):
        for side in SIDES:
            r = replies[side][i]
            b = behaviour(r.text, r.ids, r.stopped)
            ok = answered(r.text, q)
            rows.append(
                (
                    q.text,
                    side,
                    "yes" if r.stopped else "no",
                    "yes" if ok else "no",
                    str(r.length),
                    b.value,
                    excerpt(r.text),
                )
            )
            records.append(
                {
                    "question": q.text,
                    "side": side,
                    "stopped": r.stopped,
                    "answered": ok,
                    "length": r.length,
                    "behaviour": b.value,
                    "reason": r.reason.value,
                    "text": r.text,
                }
            )
    base_b = stats["base"].behaviour
    figures = (
        Bars(
            Bilingual("Stops on its own (end-of-generation token)", "自行停止（生成结束词元）"),
            tuple(
                Bar(
                    f"{side}: {pair.name(side)}",
                    stats[side].stopped / n,
                    f"{frac(stats[side].stopped, n)} ({pct(stats[side].stopped / n)})",
                )
                for side in SIDES
            ),
        ),
        Table(
            Bilingual("Both models, side by side", "两个模型并排"),
            (
                "",
                Bilingual("stopped", "停止"),
                Bilingual("answered", "回答"),
                Bilingual("mean length (tokens)", "平均长度（词元）"),
            ),
            tuple(
                (
                    f"{side}: {pair.name(side)}",
                    frac(stats[side].stopped, n),
                    frac(stats[side].answered, n),
                    f"{stats[side].mean_length:.1f}",
                )
                for side in SIDES
            ),
        ),
        Table(
            Bilingual("What the base model does instead of stopping", "基座模型不停下时在做什么"),
            ("behaviour", "行为", Bilingual("replies", "回复数")),
            tuple(
                (b.value, BEHAVIOUR_ZH[b], str(base_b.get(b.value, 0)))
                for b in (
                    Behaviour.NEXT_TURN,
                    Behaviour.REPEATS,
                    Behaviour.DRIFTS,
                    Behaviour.STOPPED,
                )
            ),
        ),
        Table(
            Bilingual("Every reply", "每一条回复"),
            (
                Bilingual("question", "问题"),
                Bilingual("side", "模型"),
                Bilingual("stopped", "停止"),
                Bilingual("answered", "回答"),
                Bilingual("tokens", "词元数"),
                Bilingual("behaviour", "行为"),
                Bilingual("reply", "回复"),
            ),
            tuple(rows),
        ),
    )
    sb, sa = stats["base"].stopped, stats["aligned"].stopped
    top = base_b.most_common(1)[0][0] if base_b else Behaviour.DRIFTS.value
    finding = Bilingual(
        f"The aligned model stopped on its own {sa}/{n} times, the base model {sb}/{n}; "
        f"most often the base model {top}.",
        f"对齐模型自行停止 {sa}/{n} 次，基座模型 {sb}/{n} 次；"
        f"基座模型最常见的行为是“{BEHAVIOUR_ZH[Behaviour(top)]}”。",
    )
    return LESSON.result(
        pair,
        finding=finding,
        figures=figures,
        setup=(
            ("questions", str(n)),
            ("settings", "greedy, no stop strings (the defaults)"),
            ("max tokens", str(options.max_tokens)),
            ("base template", templates["base"]),
            ("aligned template", templates["aligned"]),
        ),
        elapsed_s=time.perf_counter() - t0,
        data={
            "n": n,
            "stopped": {s: stats[s].stopped for s in SIDES},
            "stop_rate": {s: stats[s].stopped / n for s in SIDES},
            "answered": {s: stats[s].answered for s in SIDES},
            "mean_length": {s: stats[s].mean_length for s in SIDES},
            "base_behaviour": dict(base_b),
            "replies": records,
        },
    )


LESSON = Lesson(
    name="document",
    number=2,
    title=TITLE,
    claim=CLAIM,
    explanation=EXPLANATION,
    run=run,
)
