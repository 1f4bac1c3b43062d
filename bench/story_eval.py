"""The story evaluation: on the default pair with default settings, does the aligned model
answer and stop, while the base model goes on writing?

Asks every question of bench/story_questions.toml to both models of models.toml's [pair],
exactly as the app's first chat turn does (each model's default template and system prompt
from models.toml, default sampler settings: greedy, 256 tokens, the same stop rule).
Reports, per question and in total:
  - aligned: correct (the reply contains an accepted answer) and ended on its own (EOG);
  - base: ended on its own (EOG);
  - mean reply lengths in tokens.
Targets on the demo pair: aligned >= 16/20 correct and stopped, base <= 2/20 stopped
(scaled to the number of questions). Exits 1 when a target is missed.

    python bench/story_eval.py [--config models.toml] [--limit N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playground.config import load_config, open_model  # noqa: E402
from playground.engine.backend import Backend  # noqa: E402
from playground.engine.settings import SamplerSettings  # noqa: E402
from playground.engine.types import Finished, StopReason  # noqa: E402
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
class Question:
    text: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class Reply:
    text: str
    tokens: int
    reason: str

    @property
    def stopped(self) -> bool:
        return self.reason == StopReason.EOG.value


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    """The questions and their accepted answers. Raises ValueError naming a bad entry."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out = []
    for n, q in enumerate(data.get("question", []), 1):
        text, answers = q.get("text"), q.get("answers")
        if not isinstance(text, str) or not isinstance(answers, list) or not answers:
            raise ValueError(f"{path}: question {n} needs text = '...' and answers = ['...']")
        out.append(Question(text, tuple(str(a) for a in answers)))
    return out


def correct(reply: str, answers: tuple[str, ...]) -> bool:
    low = reply.lower()
    return any(a.lower() in low for a in answers)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="models.toml (default: the usual search order)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions")
    parser.add_argument("--json", help="also write every reply to this JSON file")
    args = parser.parse_args(argv)
    questions = load_questions()
    if args.limit:
        questions = questions[: args.limit]
    config = load_config(args.config)
    sides = {"base": config.model(config.pair.base), "aligned": config.model(config.pair.aligned)}
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
            results[side] = [ask(model, ps, q.text) for q in questions]
        finally:
            model.close()
    elapsed = time.perf_counter() - t0

    print(f"\n{'question':<48} {'aligned':<34} ok  stop | base stop  tokens")
    for q, a, b in zip(questions, results["aligned"], results["base"], strict=True):
        answer = " ".join(a.text.split())[:32]
        print(
            f"{q.text[:47]:<48} {answer:<34} {'y' if correct(a.text, q.answers) else 'n':<3} "
            f"{'y' if a.stopped else 'n':<4} | {'y' if b.stopped else 'n':<4} "
            f"{a.tokens:>3}/{b.tokens:<3}"
        )
    n = len(questions)
    good = sum(
        1
        for q, a in zip(questions, results["aligned"], strict=True)
        if a.stopped and correct(a.text, q.answers)
    )
    base_stopped = sum(1 for b in results["base"] if b.stopped)
    mean = {s: sum(r.tokens for r in rs) / max(1, len(rs)) for s, rs in results.items()}
    aligned_ok = good >= ALIGNED_TARGET * n
    base_ok = base_stopped <= BASE_TARGET * n
    print(
        f"\naligned correct and stopped: {good}/{n} (target >= {ALIGNED_TARGET * n:g}) "
        f"{'PASS' if aligned_ok else 'MISS'}"
    )
    print(
        f"base stopped on its own:     {base_stopped}/{n} (target <= {BASE_TARGET * n:g}) "
        f"{'PASS' if base_ok else 'MISS'}"
    )
    print(
        f"mean reply length: aligned {mean['aligned']:.1f} tokens, base {mean['base']:.1f} "
        f"tokens ({elapsed:.0f} s)"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "questions": [asdict(q) for q in questions],
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
