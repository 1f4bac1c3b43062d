"""Command-line flags for every sampler setting, plus `--preset NAME`.

The preset is applied first and explicit flags override it, so `--preset urial --temp 0`
means URIAL's settings, greedy. Every flag defaults to None ("not given") for that reason.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from typing import Any

from playground.engine.settings import (
    ADAPTER_DIVERSITY,
    ADAPTER_RAMP,
    PENALTY_SOURCES,
    RANDOM_SEED,
    InvalidSetting,
    SamplerSettings,
    check_value,
)
from playground.sampling.presets import BUILTIN_PRESETS, PresetError, find_preset

# (flag, field, type, help); flags follow llama.cpp's CLI names where it has them.
_SIMPLE: tuple[tuple[str, str, type, str], ...] = (
    ("--temp", "temperature", float, "temperature; 0 is greedy"),
    ("--top-k", "top_k", int, "keep the k most likely tokens; 0 keeps all"),
    ("--top-p", "top_p", float, "nucleus: keep tokens up to this cumulative probability"),
    ("--min-p", "min_p", float, "drop tokens below min_p x the top token's probability"),
    ("--repeat-penalty", "repeat_penalty", float, "repetition penalty; 1.0 is off"),
    ("--repeat-last-n", "penalty_last_n", int, "penalty window in tokens; -1 whole context"),
    ("--frequency-penalty", "frequency_penalty", float, "subtract count x this"),
    ("--presence-penalty", "presence_penalty", float, "subtract this once per seen token"),
    ("--dry-multiplier", "dry_multiplier", float, "DRY strength; 0 is off"),
    ("--dry-base", "dry_base", float, "DRY base (default 1.75)"),
    ("--dry-allowed-length", "dry_allowed_length", int, "DRY allowed length (default 2)"),
    ("--dry-penalty-last-n", "dry_penalty_last_n", int, "DRY window; -1 whole context"),
    ("--seed", "seed", int, f"seed of the draw; {RANDOM_SEED} picks a new one"),
    ("-n", "max_tokens", int, "maximum tokens to generate"),
    ("--eos-bias", "eos_bias", float, "EOS boost: constant bias on every end-of-generation id"),
    ("--eos-ramp", "eos_ramp", float, f"EOS boost ramp: +RATE x L (adapter: {ADAPTER_RAMP})"),
    ("--eos-ramp-end", "eos_ramp_end", int, "the ramp stops at this reply length (250)"),
    ("--token-style", "token_style", float, "adapter token-style rule strength; 1 as published"),
    ("--diversity", "diversity", float, f"adapter diversity rule ({ADAPTER_DIVERSITY})"),
)


def add_sampler_args(parser: argparse.ArgumentParser) -> None:
    """Add `--preset` and one flag per sampler setting to `parser`."""
    g = parser.add_argument_group("sampling (a preset first, then these flags override it)")
    g.add_argument(
        "--preset",
        metavar="NAME",
        help=f"start from a preset: {', '.join(repr(n) for n in BUILTIN_PRESETS)} "
        "or one of the user's own",
    )
    for flag, dest, typ, help_ in _SIMPLE:
        # The spelling first-class too: --temperature next to llama.cpp's --temp.
        extra = {"-n": ("--max-tokens",), "--temp": ("--temperature",)}.get(flag, ())
        g.add_argument(flag, *extra, dest=f"s_{dest}", type=typ, default=None, help=help_)
    g.add_argument(
        "--penalty-source",
        dest="s_penalty_source",
        choices=PENALTY_SOURCES,
        default=None,
        help="penalty/DRY history: 'reply' (llama-cpp-python) or 'prompt+reply' (llama-server)",
    )
    g.add_argument(
        "--dry-breaker",
        dest="s_dry_sequence_breakers",
        action="append",
        default=None,
        metavar="TEXT",
        help='a DRY sequence breaker (repeatable; replaces the default \\n : " *)',
    )
    g.add_argument(
        "--logit-bias",
        dest="s_logit_bias",
        action="append",
        default=None,
        metavar="ID=BIAS",
        help="bias a token id (repeatable); BIAS may be -inf",
    )
    g.add_argument(
        "--logit-bias-text",
        dest="s_logit_bias_text",
        action="append",
        default=None,
        metavar="TEXT=BIAS",
        help="bias every token whose piece is TEXT (else TEXT's tokens); repeatable",
    )
    g.add_argument(
        "--stop",
        dest="s_stop",
        action="append",
        default=None,
        metavar="TEXT",
        help="stop before this text (repeatable)",
    )
    g.add_argument(
        "--ban-eos",
        dest="s_ban_eos",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="forbid every end-of-generation token",
    )
    g.add_argument(
        "--urial",
        dest="s_urial_prompt",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="wrap the base model's prompt in the URIAL template",
    )
    g.add_argument(
        "--adapter-rules",
        dest="adapter_rules",
        action="store_true",
        help="turn on the adapter's three rules at their published strengths",
    )


def _split_bias(item: str, what: str) -> tuple[str, float]:
    key, sep, value = item.rpartition("=")
    if not sep or not key:
        raise PresetError(f"{what} {item!r}: expected KEY=BIAS, e.g. 42=-inf")
    try:
        bias = float(value)
    except ValueError:
        raise PresetError(f"{what} {item!r}: BIAS must be a number or -inf") from None
    if math.isnan(bias):
        raise PresetError(f"{what} {item!r}: BIAS must not be nan")
    return key, bias


def settings_from_args(
    args: argparse.Namespace, user_presets: Mapping[str, SamplerSettings] | None = None
) -> SamplerSettings:
    """The settings the flags ask for: the preset (or the defaults), then each given flag.

    Raises:
        PresetError: an unknown preset or a malformed --logit-bias (the message says why).
    """
    name = getattr(args, "preset", None)
    base = find_preset(name, user_presets) if name else SamplerSettings()
    changes: dict[str, Any] = {}
    for key, value in vars(args).items():
        if not key.startswith("s_") or value is None:
            continue
        field = key[2:]
        if field == "logit_bias":
            pairs = []
            for item in value:
                tok, bias = _split_bias(item, "--logit-bias")
                try:
                    pairs.append((int(tok), bias))
                except ValueError:
                    raise PresetError(f"--logit-bias {item!r}: ID must be an integer") from None
            changes[field] = base.logit_bias + tuple(pairs)
        elif field == "logit_bias_text":
            texts = tuple(_split_bias(item, "--logit-bias-text") for item in value)
            changes[field] = base.logit_bias_text + texts
        elif field in ("stop", "dry_sequence_breakers"):
            changes[field] = tuple(value)
        else:
            changes[field] = value
    if getattr(args, "adapter_rules", False):
        changes.setdefault("eos_ramp", ADAPTER_RAMP)
        changes.setdefault("token_style", 1.0)
        changes.setdefault("diversity", ADAPTER_DIVERSITY)
    for field, value in changes.items():
        try:
            check_value(field, value)
        except InvalidSetting as exc:
            flag = FLAGS.get(field, f"--{field.replace('_', '-')}")
            raise PresetError(f"{flag} {value!r} is out of range; valid: {exc.valid}") from None
    return base.replace(**changes) if changes else base


FLAGS: dict[str, str] = {dest: flag for flag, dest, _typ, _help in _SIMPLE} | {
    "temperature": "--temperature",
    "max_tokens": "--max-tokens",
    "logit_bias": "--logit-bias",
    "logit_bias_text": "--logit-bias-text",
}
"""The flag that sets each field, for error messages."""
