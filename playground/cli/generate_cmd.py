"""`playground generate`: stream one model's continuation of a prompt, as text or JSON lines."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from playground.cli.common import CliError, config_from, fail, is_model_path, open_by_id
from playground.engine.backend import Backend
from playground.engine.errors import EngineError
from playground.engine.settings import SamplerSettings
from playground.engine.stop_text import StopHoldback
from playground.engine.types import Finished, TokenEvent
from playground.engine.utf8 import hex_escape
from playground.sampling import cli_args, load_user_presets
from playground.sampling.presets import PresetError
from playground.templates.prompt import PromptSettings, TemplateProblem, build_prompt


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "generate",
        help="continue a prompt with one model and stream the tokens",
        description="The prompt is raw text (special-token text such as <|im_start|> is "
        "parsed as special tokens); BOS is added when the model expects one. With --urial "
        "(or --preset urial) the prompt is the query inside URIAL's in-context alignment "
        "prompt, as the app's URIAL switch does. Text after a --stop string is never printed.",
    )
    p.add_argument("--model", required=True, help="model id from models.toml, or a .gguf path")
    p.add_argument("--prompt", required=True, help="the raw prompt text")
    p.add_argument(
        "--n-probs", type=int, default=5, metavar="N", help="alternatives per token in --json"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per token, then a summary")
    cli_args.add_sampler_args(p)
    p.set_defaults(run=run)


def token_json(ev: TokenEvent) -> dict[str, Any]:
    return {
        "id": ev.id,
        "piece": hex_escape(ev.piece),
        "special": ev.special,
        "logprob": round(ev.logprob, 6),
        "top": [
            {"id": t.id, "piece": hex_escape(t.piece), "logprob": round(t.logprob, 6)}
            for t in ev.top
        ],
    }


def prompt_ids(model: Backend, text: str, urial: bool) -> list[int]:
    """The prompt's tokens: the raw text, or the text as a query in URIAL's prompt."""
    if not urial:
        return model.tokenize(text, special=True, add_bos=model.vocab.add_bos)
    raw = PromptSettings(template="none", user_specials=True)
    rendered = build_prompt(model, raw, "chat", [], text, urial=True)
    print(
        f"[URIAL: the prompt is the query in URIAL's in-context prompt, "
        f"{len(rendered.ids)} tokens]",
        file=sys.stderr,
    )
    return rendered.ids


def _settings(args: argparse.Namespace) -> SamplerSettings:
    """The preset (built-in, or the user's own from models.toml), then the explicit flags."""
    user_presets = {}
    if getattr(args, "preset", None):
        config = None if is_model_path(args.model) else config_from(args)
        if config is not None:
            user_presets = load_user_presets(config.source)
    return cli_args.settings_from_args(args, user_presets)


def run(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
        model = open_by_id(args, args.model)
    except (CliError, PresetError, ValueError) as exc:
        return fail(str(exc))
    try:
        prompt = prompt_ids(model, args.prompt, settings.urial_prompt)
        stop = list(settings.stop)
        max_tokens = settings.max_tokens
        out = sys.stdout
        holdback = StopHoldback(stop)
        for item in model.stream(
            prompt,
            settings=settings,
            max_tokens=max_tokens,
            stop=stop,
            top_k=args.n_probs,
        ):
            if isinstance(item, TokenEvent):
                if args.json:
                    out.write(json.dumps(token_json(item), ensure_ascii=False) + "\n")
                else:
                    out.write(holdback.push(item.text))
                out.flush()
            elif isinstance(item, Finished):
                if args.json:
                    summary = {
                        "done": True,
                        "reason": item.reason.value,
                        "tokens": item.tokens,
                        "tok_per_s": round(item.tok_per_s, 2),
                        "prompt_tokens": item.prompt_tokens,
                    }
                    out.write(json.dumps(summary) + "\n")
                else:
                    out.write(holdback.finish(item.text) + "\n")
                    print(
                        f"[{item.reason.value}: {item.tokens} tokens, {item.tok_per_s:.1f} tok/s]",
                        file=sys.stderr,
                    )
    except (EngineError, TemplateProblem) as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        print("\n[cancelled]", file=sys.stderr)
        return 130
    finally:
        model.close()
    return 0
