"""The story evaluation: on the default pair with default settings, does the aligned model
answer and stop, while the base model goes on writing?

Asks every question of bench/story_questions.toml to both models of models.toml's [pair],
exactly as the app's first chat turn does (each model's default template and system prompt
from models.toml, default sampler settings: greedy, 256 tokens, the same stop rule).
Reports, per question and in total:
  - aligned: correct and ended on its own (EOG). Correct is the lessons' rule
    (playground.lessons.questions.answered): an accepted answer appears as a whole word
    before the reply starts a turn of its own;
  - base: ended on its own (EOG);
  - mean reply lengths in tokens.
Questions marked `held_out` were written after the defaults had been chosen on the others;
they are reported on their own line as well as in the total.
Targets on the demo pair: aligned >= 16/20 correct and stopped, base <= 2/20 stopped
(scaled to the number of questions). Exits 1 when a target is missed.

    python bench/story_eval.py [--config models.toml] [--limit N] [--json FILE]
        [--aligned-system TEXT] [--aligned-template NAME] [--side aligned|base|both]

--aligned-system and --aligned-template try another default for the aligned model (what
the README's table of candidates was measured with).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from dataclasses import asdict, dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playground.config import load_config, open_model  # noqa: E402
from playground.engine.backend import Backend  # noqa: E402
from playground.engine.settings import SamplerSettings  # noqa: E402
from playground.engine.types import Finished, StopReason  # noqa: E402
from playground.lessons.questions import Question, answered  # noqa: E402
from playground.templates.prompt import (  # noqa: E402
    PromptSettings,
    build_prompt,
    default_settings,
    reply_stops,
)

QUESTIONS = Path(__file__).with_name("story_questions.toml")
ALIGNED_TARGET = 16 / 20
"""At least this share of questions answered correctly and ended on its own."""
BASE_TARGET = 2 / 20
"""At most this share of questions where the base model ends on its own."""


@dataclass(frozen=True)
class StoryQuestion:
    question: Question
    held_out: bool = False
    """Written after the defaults were chosen on the other questions."""


@dataclass(frozen=True)
class Reply:
    text: str
    tokens: int
    reason: str

    @property
    def stopped(self) -> bool:
        return self.reason == StopReason.EOG.value


def load_questions(path: Path = QUESTIONS) -> list[StoryQuestion]:
    """The questions and their accepted answers. Raises ValueError naming a bad entry."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out = []
    for n, q in enumerate(data.get("question", []), 1):
        text, answers = q.get("text"), q.get("answers")
        if not isinstance(text, str) or not isinstance(answers, list) or not answers:
            raise ValueError(f"{path}: question {n} needs text = '...' and answers = ['...']")
        question = Question(text, tuple(str(a) for a in answers))
        out.append(StoryQuestion(question, bool(q.get("held_out", False))))
    return out


def ask(model: Backend, prompt_settings: PromptSettings, question: str) -> Reply:
    """One first chat turn, as the app runs it."""
    settings = SamplerSettings()
    prompt = build_prompt(model, prompt_settings, "chat", [], question)
    stop = reply_stops(settings.stop, prompt, prompt_settings)
    fin: Finished | None = None
    for item in model.stream(
        prompt.ids,
        settings=settings,
        max_tokens=settings.max_tokens,
        stop=stop,
    ):
        if isinstance(item, Finished):
            fin = item
    assert fin is not None
    return Reply(fin.text, fin.tokens, fin.reason.value)


def _count(
    questions: list[StoryQuestion], results: dict[str, list[Reply]]
) -> tuple[int | None, int | None]:
    """(aligned correct and stopped, base stopped) over these questions; None for a side
    that was not run."""
    good = base = None
    if "aligned" in results:
        good = sum(
            1
            for q, a in zip(questions, results["aligned"], strict=True)
            if a.stopped and answered(a.text, q.question)
        )
    if "base" in results:
        base = sum(1 for b in results["base"] if b.stopped)
    return good, base


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="models.toml (default: the usual search order)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions")
    parser.add_argument("--json", help="also write every reply to this JSON file")
    parser.add_argument("--side", choices=("both", "aligned", "base"), default="both")
    parser.add_argument(
        "--aligned-system", default=None, help="try this system prompt for the aligned model"
    )
    parser.add_argument(
        "--aligned-template", default=None, help="try this template for the aligned model"
    )
    args = parser.parse_args(argv)
    questions = load_questions()
    if args.limit:
        questions = questions[: args.limit]
    config = load_config(args.config)
    aligned_spec = config.model(config.pair.aligned)
    if args.aligned_system is not None:
        aligned_spec = replace(aligned_spec, system=args.aligned_system)
    if args.aligned_template is not None:
        aligned_spec = replace(aligned_spec, template=args.aligned_template)
    sides = {"base": config.model(config.pair.base), "aligned": aligned_spec}
    if args.side != "both":
        sides = {args.side: sides[args.side]}
    results: dict[str, list[Reply]] = {}
    t0 = time.perf_counter()
    for side, spec in sides.items():
        # half the cores, as the app (spin-waiting threads crawl on a busy machine)
        model = open_model(spec)
        try:
            ps = default_settings(model, spec.template, spec.system, spec.role)
            print(
                f"{side}: {spec.name}, template {ps.template!r}, "
                f"system prompt {ps.system or '(none)'!r}, template stops "
                f"{'on' if ps.template_stops else 'off'}",
                flush=True,
            )
            results[side] = [ask(model, ps, q.question.text) for q in questions]
        finally:
            model.close()
    elapsed = time.perf_counter() - t0
    none = [Reply("", 0, "-")] * len(questions)
    aligned_r, base_r = results.get("aligned", none), results.get("base", none)

    print(f"\n{'question':<48} {'aligned':<34} ok  stop | base stop  tokens")
    for q, a, b in zip(questions, aligned_r, base_r, strict=True):
        answer = " ".join(a.text.split())[:32]
        mark = "*" if q.held_out else " "
        print(
            f"{mark}{q.question.text[:46]:<47} {answer:<34} "
            f"{'y' if answered(a.text, q.question) else 'n':<3} "
            f"{'y' if a.stopped else 'n':<4} | {'y' if b.stopped else 'n':<4} "
            f"{a.tokens:>3}/{b.tokens:<3}"
        )
    n = len(questions)
    good, base_stopped = _count(questions, results)
    blocks = [
        ("chosen on", [i for i, q in enumerate(questions) if not q.held_out]),
        ("held out (*)", [i for i, q in enumerate(questions) if q.held_out]),
    ]
    for label, idx in blocks:
        if idx and len(idx) < n:
            sub = [questions[i] for i in idx]
            g, b = _count(sub, {s: [rs[i] for i in idx] for s, rs in results.items()})
            print(
                f"{label:<13} {len(idx):>2} questions: aligned correct and stopped {g}, "
                f"base stopped {b}"
            )
    aligned_ok = good is None or good >= ALIGNED_TARGET * n
    base_ok = base_stopped is None or base_stopped <= BASE_TARGET * n
    if good is not None:
        print(
            f"\naligned correct and stopped: {good}/{n} (target >= {ALIGNED_TARGET * n:g}) "
            f"{'PASS' if aligned_ok else 'MISS'}"
        )
    if base_stopped is not None:
        print(
            f"base stopped on its own:     {base_stopped}/{n} (target <= {BASE_TARGET * n:g}) "
            f"{'PASS' if base_ok else 'MISS'}"
        )
    mean = {s: sum(r.tokens for r in rs) / max(1, len(rs)) for s, rs in results.items()}
    print(
        "mean reply length: "
        + ", ".join(f"{s} {m:.1f} tokens" for s, m in mean.items())
        + f" ({elapsed:.0f} s)"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "questions": [
                        {**asdict(q.question), "held_out": q.held_out} for q in questions
                    ],
                    "aligned_system": aligned_spec.system,
                    "aligned_template": aligned_spec.template,
                    "replies": {s: [asdict(r) for r in rs] for s, rs in results.items()},
                    "aligned_correct_and_stopped": good,
                    "base_stopped": base_stopped,
                    "mean_tokens": mean,
                },
                ensure_ascii=False,
                indent=1,
            ),
            encoding="utf-8",
        )
    return 0 if aligned_ok and base_ok else 1


if __name__ == "__main__":
    sys.exit(main())
