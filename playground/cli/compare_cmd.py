"""`playground compare`: the token-shift analysis of one query, as text, JSON or an HTML page.

Generates the aligned model's reply (its own template) and the base model's own reply (the
context the user picks), scores the analysed reply under the other model in one batched
pass, and prints the per-token classes (URIAL's unshifted / marginal / shifted).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from playground.analysis.compare import Comparison, comparison_to_json, run_comparison
from playground.analysis.contexts import BASE_CONTEXTS
from playground.analysis.shift import ShiftClass
from playground.cli.common import CliError, config_from, fail, is_model_path, open_pair
from playground.config import ConfigError
from playground.engine.errors import EngineError
from playground.engine.utf8 import hex_escape
from playground.sampling import cli_args
from playground.templates.errors import TemplateError

DEFAULT_MAX_TOKENS = 256


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "compare",
        help="per-token probability shift between the base and the aligned model",
        description="Generate the aligned reply and the base model's own reply to PROMPT "
        "(greedy unless sampler flags say otherwise), then rank every token of the analysed "
        "reply in the other model's distribution: unshifted (rank 1), marginal (2-3), "
        "shifted (4+), as in URIAL (Lin et al. 2023).",
    )
    p.add_argument("--prompt", required=True, help="the user's query")
    p.add_argument("--base", metavar="ID", help="base model id or .gguf path (default: the pair)")
    p.add_argument(
        "--aligned", metavar="ID", help="aligned model id or .gguf path (default: the pair)"
    )
    p.add_argument(
        "--base-context",
        choices=BASE_CONTEXTS,
        default="urial",
        help="what the base model sees: the aligned model's template ('same'), URIAL's "
        "# Query: / # Answer: layout ('urial', the default), or the bare query ('raw')",
    )
    p.add_argument(
        "--direction",
        choices=("aligned", "base", "both"),
        default="aligned",
        help="analyse the aligned reply under the base model (default), the base reply under "
        "the aligned model, or both",
    )
    p.add_argument("--top", type=int, default=5, metavar="K", help="top-k list size per token")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
    cli_args.add_sampler_args(p)
    p.set_defaults(run=run)


def _model_ids(args: argparse.Namespace) -> tuple[str, str]:
    base, aligned = args.base, args.aligned
    if base is None or aligned is None:
        pair = config_from(args).pair
        base = base or pair.base
        aligned = aligned or pair.aligned
    return base, aligned


def _display_name(args: argparse.Namespace, model_id: str, fallback: str) -> str:
    """The models.toml name for a model id (what the app shows), else the GGUF's own."""
    if is_model_path(model_id):
        return fallback
    try:
        return config_from(args).model(model_id).name
    except (CliError, ConfigError):
        return fallback


def _print_text(c: Comparison) -> None:
    a = c.analysis
    s = a.summary
    producer, scorer = (
        (c.aligned_name, c.base_name) if c.direction == "aligned" else (c.base_name, c.aligned_name)
    )
    out = sys.stdout
    out.write(f"{producer}'s reply, ranked by {scorer} ({a.vocab} vocabulary):\n\n")
    marks = {ShiftClass.UNSHIFTED: " ", ShiftClass.MARGINAL: "~", ShiftClass.SHIFTED: "!"}
    for t in a.tokens:
        approx = "*" if t.approximate else " "
        kl = f"  KL {t.kl:.3f}" if t.kl is not None else ""
        piece = repr(hex_escape(t.piece))
        out.write(
            f"{marks[t.shift]}{approx}{t.index:4d} {piece:24} rank {t.other_rank_text:<7}"
            f"logp {t.producer_logprob:8.3f} / {t.other_logprob:8.3f}{kl}\n"
        )
    out.write(
        f"\n{s.total} tokens: {s.unshifted} unshifted, {s.marginal} marginal, {s.shifted} "
        f"shifted ({s.shifted_ratio:.1%})"
        + (f"; {s.approximate} approximate (*)" if s.approximate else "")
        + "\n"
    )
    if c.reverse is not None:
        r = c.reverse.summary
        out.write(
            f"other direction, {c.base_name}'s reply ranked by {c.aligned_name}: {r.total} "
            f"tokens, {r.unshifted} unshifted, {r.marginal} marginal, {r.shifted} shifted "
            f"({r.shifted_ratio:.1%})\n"
        )


def html_target_problem(target: str) -> str | None:
    """Why the HTML report cannot be written to `target`, with the fix; None if it can."""
    path = Path(target).expanduser()
    folder = path.parent
    fix = "Fix: give --html a file in a folder that exists and that you can write to."
    if path.is_dir():
        return f"--html {target}: that is a folder, not a file. {fix}"
    if not folder.is_dir():
        return f"--html {target}: the folder {folder} does not exist. {fix}"
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return f"--html {target}: no permission to write there. {fix}"
    return None


def run(args: argparse.Namespace) -> int:
    if args.html and (problem := html_target_problem(args.html)):
        return fail(problem)  # before minutes of generation, not after
    try:
        settings = cli_args.settings_from_args(args)
        base_id, aligned_id = _model_ids(args)
        max_tokens = settings.max_tokens or DEFAULT_MAX_TOKENS
        base, aligned = open_pair(args, base_id, aligned_id)
    except (CliError, ValueError) as exc:
        return fail(str(exc))
    try:
        c = run_comparison(
            base,
            aligned,
            args.prompt,
            base_context=args.base_context,
            settings=settings,
            max_tokens=max_tokens,
            direction=args.direction,
            top_k=args.top,
        )
        c = dataclasses.replace(
            c,
            base_name=_display_name(args, base_id, c.base_name),
            aligned_name=_display_name(args, aligned_id, c.aligned_name),
        )
        if args.json:
            sys.stdout.write(json.dumps(comparison_to_json(c), ensure_ascii=False) + "\n")
        else:
            _print_text(c)
        if args.html:
            from playground.analysis.report_html import render_html

            try:
                Path(args.html).expanduser().write_text(render_html(c), encoding="utf-8")
            except OSError as exc:
                return fail(
                    f"cannot write the HTML report to {args.html}: {exc.strerror or exc}. "
                    "Fix: give --html a file in a folder that exists and that you can write "
                    "to (the analysis is printed above)."
                )
            print(f"report written to {args.html}", file=sys.stderr)
    except (EngineError, TemplateError, ValueError, OSError) as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        print("\n[cancelled]", file=sys.stderr)
        return 130
    finally:
        base.close()
        aligned.close()
    return 0
