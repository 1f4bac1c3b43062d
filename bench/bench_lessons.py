"""How long each lesson takes on the demo pair (target: under a minute each on 2 cores).

Loads the pair from models.toml as `playground lesson` does, then runs every lesson once,
timing wall clock and this process's CPU time. This machine is shared, so each lesson is
also given as a ratio to a baseline measured in the same run: 64 greedy tokens of the base
model. The lesson's own figure (its finding) is printed beside its time.

    python bench/bench_lessons.py [--lessons document tricks ...] [--out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playground.config import load_config, open_model  # noqa: E402
from playground.lessons import LESSONS, LessonPair, get_lesson, run_lesson  # noqa: E402
from playground.lessons.pair import generate, question_prompt  # noqa: E402
from playground.lessons.questions import QUESTIONS  # noqa: E402
from playground.sampling.presets import GREEDY  # noqa: E402

TARGET_S = 60.0
BASELINE_TOKENS = 64


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lessons", nargs="*", default=[ls.name for ls in LESSONS])
    parser.add_argument("--config", default=None, help="models.toml (default: the usual lookup)")
    parser.add_argument("--out", default=None, help="also write the table to this file")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="threads per model (default: the models.toml setting, else half the cores, as "
        "`playground lesson` does); on a loaded machine 1 avoids llama.cpp's spin-waits",
    )
    args = parser.parse_args(argv)
    config = load_config(args.config)
    spec_b, spec_a = config.model(config.pair.base), config.model(config.pair.aligned)
    if args.threads:
        spec_b = dataclasses.replace(spec_b, threads=args.threads)
        spec_a = dataclasses.replace(spec_a, threads=args.threads)
    base = open_model(spec_b, models_sharing=2)
    aligned = open_model(spec_a, models_sharing=2)
    pair = LessonPair(
        base,
        aligned,
        base_template=spec_b.template or "default",
        aligned_template=spec_a.template or "default",
        base_system=spec_b.system,
        aligned_system=spec_a.system,
        base_name=spec_b.name,
        aligned_name=spec_a.name,
    )
    prompt = question_prompt(pair, "base", QUESTIONS[0].text)
    generate(pair, "base", prompt.ids, GREEDY, 4)  # warm up
    base.reset()
    t0 = time.perf_counter()
    generate(pair, "base", prompt.ids, GREEDY.replace(ban_eos=True), BASELINE_TOKENS)
    baseline = time.perf_counter() - t0
    lines = [
        f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}; pair: "
        f"{pair.name('base')} x {pair.name('aligned')}",
        f"baseline: {BASELINE_TOKENS} greedy base tokens in {baseline:.2f} s",
        f"{'lesson':10} {'wall s':>7} {'cpu s':>7} {'x base':>7}  under {TARGET_S:.0f} s  finding",
    ]
    print("\n".join(lines), flush=True)
    failed = 0
    for name in args.lessons:
        lesson = get_lesson(name)
        c0, w0 = time.process_time(), time.perf_counter()
        result = run_lesson(lesson, pair)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        ok = wall < TARGET_S
        failed += not ok
        line = (
            f"{lesson.name:10} {wall:7.1f} {cpu:7.1f} {wall / baseline:7.1f}  "
            f"{'yes' if ok else 'NO ':9}  {result.finding.en}"
        )
        print(line, flush=True)
        lines.append(line)
    base.close()
    aligned.close()
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
