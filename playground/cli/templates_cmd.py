"""`playground templates`: the chat templates there are, and what each one renders."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from playground.cli.common import fail
from playground.templates import Message, TemplateError, list_templates, resolve_template

SAMPLE: tuple[Message, ...] = (
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "And of Italy?"},
)


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "templates",
        help="list the chat templates",
        description="List the built-in chat templates (any .jinja file works too).",
    )
    p.add_argument(
        "--show",
        metavar="NAME",
        help="render a sample conversation with this template (a name or a .jinja file)",
    )
    p.add_argument("--bos", default="<s>", help="bos_token for --show (default <s>)")
    p.add_argument("--eos", default="</s>", help="eos_token for --show (default </s>)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.show:
        try:
            template = resolve_template(args.show)
            text = template.render(SAMPLE, True, args.bos, args.eos)
        except TemplateError as exc:
            return fail(str(exc))
        sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))
        return 0
    rows = list_templates()
    width = max(len(name) for name, _ in rows)
    for name, description in rows:
        print(f"{name:<{width}}  {description}")
    return 0
