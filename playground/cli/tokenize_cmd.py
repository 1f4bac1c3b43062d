"""`playground tokenize`: render a conversation with a template and list its tokens.

The same core the TUI's tokenization inspector uses, so what a script sees (`--json`) is what
the app shows.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from playground.cli.common import CliError, config_from, fail, is_model_path, open_by_id
from playground.config import ConfigError
from playground.engine.backend import Backend
from playground.templates import (
    LlamaTokenizer,
    Message,
    Template,
    TemplateError,
    Tokenizer,
    TokenView,
    default_template,
    inspect_tokens,
    resolve_template,
    tiktoken_tokenizer,
)
from playground.templates.prompt import why_configured
from playground.templates.tiktoken_offline import (
    ENCODING_NAMES,
    TiktokenUnavailable,
    cache_warnings,
)

ROLES = ("system", "user", "assistant", "tool")


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "tokenize",
        help="render a conversation with a chat template and list its tokens",
        description="Render a conversation with a chat template, then tokenize the prompt "
        "with a model's own tokenizer or tiktoken's, listing every token. Special-token "
        "text is parsed as special tokens unless --special-as-text.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--messages", metavar="FILE", help='a JSON list of {"role", "content"} objects'
    )
    src.add_argument(
        "--text",
        metavar="TEXT",
        help="one user message (with the none template: the raw document)",
    )
    p.add_argument(
        "--template",
        metavar="NAME",
        default=None,
        help="a built-in name (see `playground templates`), gguf, or a .jinja file; default: "
        "the model's own or a family default (gpt4o for tiktoken)",
    )
    p.add_argument(
        "--tokenizer",
        required=True,
        metavar="MODEL",
        help=f"a model id from models.toml, a .gguf path, or {' / '.join(ENCODING_NAMES)}",
    )
    p.add_argument(
        "--no-generation-prompt",
        action="store_true",
        help="do not append the assistant's turn opener",
    )
    p.add_argument(
        "--special-as-text",
        action="store_true",
        help="tokenize special-token text as plain text (what a user typing it gets)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def read_messages(path: str) -> list[Message]:
    """A JSON list of {"role", "content"}; errors name the file and the entry."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise CliError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, list) or not data:
        raise CliError(f'{path}: expected a non-empty JSON list of {{"role", "content"}} objects')
    messages: list[Message] = []
    for i, m in enumerate(data):
        ok = (
            isinstance(m, dict)
            and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str)
        )
        if not ok:
            raise CliError(f'{path}: entry {i} must be an object with string "role" and "content"')
        if m["role"] not in ROLES:
            raise CliError(f"{path}: entry {i} has role {m['role']!r}; use one of {ROLES}")
        messages.append({"role": m["role"], "content": m["content"]})
    return messages


def _choose_template(
    args: argparse.Namespace, model: Backend | None
) -> tuple[Template, str | None]:
    """The template to use and, when it was chosen for the user, why."""
    name: str | None = args.template
    base_dir: Path | None = None
    reason: str | None = None
    tok = args.tokenizer
    is_model_id = model is not None and not is_model_path(tok)
    if name is None and is_model_id:
        config = config_from(args)
        spec = config.model(tok)
        if spec.template:
            name, base_dir = spec.template, config.source.parent
            reason = why_configured(spec.template, spec.role, spec.system)
    if name is None:
        if model is None:
            return resolve_template("gpt4o"), "tiktoken has no template of its own: using gpt4o."
        choice = default_template(model.info, model.vocab)
        return choice.template, choice.reason
    return (
        resolve_template(
            name, model.info if model else None, model.vocab if model else None, base_dir
        ),
        reason,
    )


def view_json(template: Template, view: TokenView) -> dict[str, Any]:
    return {
        "template": template.name,
        "tokenizer": view.tokenizer,
        "text": view.text,
        "count": view.count,
        "tokens": [{"id": t.id, "piece": t.text, "special": t.special} for t in view.tokens],
        "warnings": list(view.warnings),
    }


def print_view(template: Template, view: TokenView, reason: str | None) -> None:
    out = sys.stdout
    how = "special tokens parsed" if view.special_parsed else "special-token text as plain text"
    out.write(f"template: {template.name}   tokenizer: {view.tokenizer}   ({how})\n")
    if reason:
        out.write(f"{reason}\n")
    out.write("--- prompt ---\n")
    out.write(view.text + "\n")
    out.write(f"--- {view.count} tokens ---\n")
    for i, t in enumerate(view.tokens):
        mark = "  special" if t.special else ""
        out.write(f"{i:>5} {t.id:>7}  {t.shown}{mark}\n")
    for w in view.warnings:
        out.write(f"warning: {w}\n")


def run(args: argparse.Namespace) -> int:
    model: Backend | None = None
    try:
        if args.messages is not None:
            messages = read_messages(args.messages)
        else:
            messages = [{"role": "user", "content": args.text}]
        tokenizer: Tokenizer
        if args.tokenizer in ENCODING_NAMES:
            tokenizer = tiktoken_tokenizer(args.tokenizer)
        else:
            model = open_by_id(args, args.tokenizer)
            tokenizer = LlamaTokenizer(model)
        template, reason = _choose_template(args, model)
        text = template.render(
            messages, not args.no_generation_prompt, tokenizer.bos_text, tokenizer.eos_text
        )
        view = inspect_tokens(text, tokenizer, template=template, special=not args.special_as_text)
    except (CliError, ConfigError, TemplateError, TiktokenUnavailable) as exc:
        return fail(str(exc))
    finally:
        if model is not None:
            model.close()
        for warning in cache_warnings():
            print(f"playground: warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(view_json(template, view), ensure_ascii=False))
    else:
        print_view(template, view, reason)
    return 0
