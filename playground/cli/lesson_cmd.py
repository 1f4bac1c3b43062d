"""`playground lesson`: list the lessons, or run one on the pair and print its figure.

The lesson runs live on the models (the default pair from models.toml, or --base and
--aligned), with each side's template and system prompt from models.toml. Progress goes to
stderr, so `--json` output on stdout stays one clean JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from playground.cli.common import CliError, config_from, fail, is_model_path, open_pair
from playground.engine.errors import EngineError
from playground.lessons import LESSONS, LessonPair, UnknownLesson, get_lesson, run_lesson
from playground.lessons.figures import Lang
from playground.lessons.lang import UnknownLanguage, choose_lang
from playground.lessons.pair import LessonCancelled
from playground.lessons.text import render, wrap
from playground.templates.errors import TemplateError
from playground.templates.prompt import TemplateProblem


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "lesson",
        help="the course's experiments, run live on the pair (no NAME: list them)",
        description="Run one lesson, a real experiment on the loaded pair, and print its "
        "figure. Without NAME, list the lessons. The language follows the locale; --lang or "
        "$PLAYGROUND_LANG overrides it.",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="a lesson's name or number")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--lang", metavar="en|zh", help="language of the explanations")
    p.add_argument("--base", metavar="ID", help="base model id or .gguf path (default: the pair)")
    p.add_argument(
        "--aligned", metavar="ID", help="aligned model id or .gguf path (default: the pair)"
    )
    p.add_argument(
        "--questions", type=int, metavar="N", help="how many questions to ask (default 4)"
    )
    p.add_argument(
        "--max-tokens", type=int, metavar="N", help="longest reply (default: the lesson's own)"
    )
    p.add_argument("--html", metavar="FILE", help="also write the figure as an HTML page")
    p.set_defaults(run=run)


def _list(lang: Lang, as_json: bool) -> int:
    if as_json:
        rows = [
            {
                "number": lesson.number,
                "name": lesson.name,
                "title": lesson.title.get(lang),
                "claim": lesson.claim.get(lang),
            }
            for lesson in LESSONS
        ]
        sys.stdout.write(json.dumps({"lang": lang, "lessons": rows}, ensure_ascii=False) + "\n")
        return 0
    width = shutil.get_terminal_size((100, 24)).columns
    for lesson in LESSONS:
        print(f"{lesson.number}  {lesson.name:9} {lesson.title.get(lang)}")
        for line in wrap(lesson.claim.get(lang), max(20, width - 13)):
            print(" " * 13 + line)
    hint = (
        "运行：playground lesson 名称或编号" if lang == "zh" else "Run one: playground lesson NAME"
    )
    print(f"\n{hint}")
    return 0


def _spec_fields(args: argparse.Namespace, model_id: str) -> tuple[str, str, str]:
    """(template, system prompt, name) for a model id from models.toml; for a path, the
    defaults and an empty name (the GGUF's own is used)."""
    if is_model_path(model_id):
        return "default", "", ""
    spec = config_from(args).model(model_id)
    return spec.template or "default", spec.system, spec.name


def _progress(done: int, total: int, what: str) -> None:
    if what:
        print(f"[{done}/{total}] {what}", file=sys.stderr, flush=True)
    elif done == total:
        print(f"[{done}/{total}] done", file=sys.stderr, flush=True)


def _check_positive(value: int | None, flag: str) -> None:
    if value is not None and value < 1:
        raise CliError(f"{flag} must be at least 1 (got {value})")


def run(args: argparse.Namespace) -> int:
    try:
        lang = choose_lang(args.lang)
    except UnknownLanguage as exc:
        return fail(f"--lang: {exc}")
    if args.name is None:
        return _list(lang, args.json)
    try:
        lesson = get_lesson(args.name)
        _check_positive(args.questions, "--questions")
        _check_positive(args.max_tokens, "--max-tokens")
        base_id, aligned_id = args.base, args.aligned
        if base_id is None or aligned_id is None:
            pair_ids = config_from(args).pair
            base_id = base_id or pair_ids.base
            aligned_id = aligned_id or pair_ids.aligned
        base_template, base_system, base_name = _spec_fields(args, base_id)
        aligned_template, aligned_system, aligned_name = _spec_fields(args, aligned_id)
        # Half the cores per model, as the app does: a lesson runs one model at a time, but
        # on a busy machine llama.cpp's threads spin-wait, and two threads on two loaded
        # cores ran 64 tokens 20x slower than one (bench/bench_lessons.py, load 14).
        base, aligned = open_pair(args, base_id, aligned_id)
    except (UnknownLesson, CliError, ValueError) as exc:
        return fail(str(exc))
    try:
        pair = LessonPair(
            base,
            aligned,
            base_template=base_template,
            aligned_template=aligned_template,
            base_system=base_system,
            aligned_system=aligned_system,
            base_name=base_name,
            aligned_name=aligned_name,
        )
        result = run_lesson(
            lesson,
            pair,
            questions=args.questions,
            max_tokens=args.max_tokens,
            progress=_progress,
        )
        if args.html:
            from playground.analysis.report_html import render_lessons_html

            page = render_lessons_html([result.to_json(lang)], lang)
            Path(args.html).write_text(page, encoding="utf-8")
        if args.json:
            sys.stdout.write(json.dumps(result.to_json(lang), ensure_ascii=False) + "\n")
        else:
            width = shutil.get_terminal_size((100, 24)).columns
            sys.stdout.write(render(result, lang, width=max(40, width)))
            if args.html:
                print(f"figure written to {args.html}", file=sys.stderr)
    except (EngineError, TemplateError, TemplateProblem, OSError, ValueError) as exc:
        return fail(str(exc))
    except (KeyboardInterrupt, LessonCancelled):
        print("\n[cancelled]", file=sys.stderr)
        return 130
    finally:
        base.close()
        aligned.close()
    return 0
