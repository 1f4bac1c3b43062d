"""Sampler settings: one frozen value per model, swapped whole when the user changes it.

A frozen value makes a live change safe and visible: the engine compares settings objects
by identity before every token, builds a new sampler when the object changes, and each
token's trace keeps the object that produced it. The sampling semantics are llama.cpp's;
the tricks (EOS boost, ban EOS, the rule-based adapter's token-style and diversity rules)
are the playground's own and run before llama.cpp's chain.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

RANDOM_SEED = 0xFFFFFFFF
"""llama.cpp's LLAMA_DEFAULT_SEED: draw a fresh seed per generation."""

PenaltySource = Literal["reply", "prompt+reply"]
PENALTY_SOURCES: tuple[PenaltySource, ...] = ("reply", "prompt+reply")

DEFAULT_DRY_BREAKERS: tuple[str, ...] = ("\n", ":", '"', "*")
"""llama.cpp's default DRY sequence breakers."""

ADAPTER_RAMP = 0.06
"""The rule-based adapter's EOS ramp: +0.06 * L for 0 < L < 250 (Hewitt et al. 2024)."""
ADAPTER_RAMP_END = 250
ADAPTER_DIVERSITY = 1.5
"""The rule-based adapter's diversity rule: -1.5 once on every distinct token of the turn."""


@dataclass(frozen=True)
class SamplerSettings:
    """What turns logits into a token.

    The chain's semantics are llama.cpp's, in llama-cpp-python's order: the tricks (in
    numpy), penalties, DRY, top-k, top-p, min-p, temperature, then the draw.
    """

    # ----------------------------------------------------------------- llama.cpp's chain
    temperature: float = 0.0
    """0 (or below) means greedy: always the most likely token after the tricks and
    penalties."""
    top_k: int = 0
    """Keep the k most likely tokens; 0 keeps all."""
    top_p: float = 1.0
    """Nucleus: keep the smallest set whose probability reaches top_p; 1.0 keeps all."""
    min_p: float = 0.0
    """Drop tokens less likely than min_p times the most likely one; 0 keeps all."""
    repeat_penalty: float = 1.0
    """Divide a positive logit (multiply a non-positive one) of every token seen in the
    penalty window by this; 1.0 is off."""
    penalty_last_n: int = 64
    """The penalty window: the last n tokens of the history; 0 disables penalties, -1 is the
    whole context."""
    frequency_penalty: float = 0.0
    """Subtract count * this from the logit of each token seen in the window."""
    presence_penalty: float = 0.0
    """Subtract this once from the logit of each token seen in the window."""
    penalty_source: PenaltySource = "reply"
    """Where the penalty and DRY history comes from: "reply" (llama-cpp-python's
    high-level API: generated tokens only) or "prompt+reply" (llama-server: the prompt
    tokens too)."""
    dry_multiplier: float = 0.0
    """DRY ("don't repeat yourself"): 0 is off. A token that would extend a repeat of length
    n >= dry_allowed_length loses multiplier * base^(n - allowed_length)."""
    dry_base: float = 1.75
    dry_allowed_length: int = 2
    dry_penalty_last_n: int = -1
    """How far back DRY looks for repeats; -1 is the whole context, 0 disables DRY."""
    dry_sequence_breakers: tuple[str, ...] = DEFAULT_DRY_BREAKERS
    """Text that a repeat may not cross."""
    logit_bias: tuple[tuple[int, float], ...] = ()
    """(token id, bias) pairs added to the logits; -inf bans a token."""
    logit_bias_text: tuple[tuple[str, float], ...] = ()
    """(text, bias) pairs: the bias goes to every id whose piece is exactly the text, or,
    when none is, to each token of the text's tokenization."""
    seed: int = RANDOM_SEED
    """Seed of the final draw; RANDOM_SEED picks a new one each time."""
    max_tokens: int = 256
    """Longest reply, in tokens (read by the caller and passed to the engine)."""
    stop: tuple[str, ...] = ()
    """Stop strings: the reply ends before the first one (read by the caller)."""

    # ----------------------------------------------------------------- the tricks
    eos_bias: float = 0.0
    """EOS boost, constant: added to every end-of-generation id's logit at every step."""
    eos_ramp: float = 0.0
    """EOS boost, length ramp: adds eos_ramp * L to every end-of-generation id for
    0 < L < eos_ramp_end, where L is the number of reply tokens so far (the adapter: 0.06)."""
    eos_ramp_end: int = ADAPTER_RAMP_END
    ban_eos: bool = False
    """Set every end-of-generation id to -inf: the model cannot stop on its own."""
    token_style: float = 0.0
    """Strength of the adapter's token-style rule: 1.0 applies its 15 biases as published,
    0 is off, 2.0 doubles them."""
    diversity: float = 0.0
    """The adapter's diversity rule: subtract this once from every distinct token id seen
    since the user's turn began (the adapter: 1.5); 0 is off."""
    urial_prompt: bool = False
    """Wrap the base model's prompt in the URIAL template (read by the app, not here)."""

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0

    @property
    def adapter_rules_on(self) -> bool:
        """Whether the adapter's rules are on: they add to log_softmax(logits)."""
        return self.eos_ramp != 0.0 or self.token_style != 0.0 or self.diversity != 0.0

    @property
    def penalties_on(self) -> bool:
        return self.penalty_last_n != 0 and (
            self.repeat_penalty != 1.0
            or self.frequency_penalty != 0.0
            or self.presence_penalty != 0.0
        )

    @property
    def dry_on(self) -> bool:
        return self.dry_multiplier != 0.0 and self.dry_base >= 1.0 and self.dry_penalty_last_n != 0

    def replace(self, **changes: Any) -> SamplerSettings:
        """A copy with some fields changed (a new object, so the engine sees the change)."""
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """The fields that differ from the defaults, as `name=value`, for a status line."""
        base = SamplerSettings()
        parts = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(base, f.name)
        ]
        return " ".join(parts) or "greedy"


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(SamplerSettings))


# ---------------------------------------------------------------------------- valid values


@dataclass(frozen=True)
class Range:
    """The values a numeric setting accepts: finite, between low and high (None: open)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    """True when `low` itself is not allowed (repeat_penalty 0 would divide by zero)."""
    note: str = ""

    def describe(self) -> str:
        lo = "" if self.low is None else f"{'>' if self.low_open else '>='} {_num(self.low)}"
        if self.low is not None and self.high is not None and not self.low_open:
            text = f"from {_num(self.low)} to {_num(self.high)}"
        elif self.high is not None:
            text = " and ".join(p for p in (lo, f"<= {_num(self.high)}") if p)
        else:
            text = lo or "any finite number"
        return text + (f" ({self.note})" if self.note else "")

    def accepts(self, value: float) -> bool:
        if math.isnan(value) or math.isinf(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


RANGES: dict[str, Range] = {
    "temperature": Range(0.0, note="0 is greedy"),
    "top_k": Range(0, note="0 keeps all"),
    "top_p": Range(0.0, 1.0, note="1 keeps all"),
    "min_p": Range(0.0, 1.0, note="0 keeps all"),
    "repeat_penalty": Range(0.0, low_open=True, note="1 is off"),
    "penalty_last_n": Range(-1, note="-1 is the whole context, 0 is off"),
    "frequency_penalty": Range(),
    "presence_penalty": Range(),
    "dry_multiplier": Range(0.0, note="0 is off"),
    "dry_base": Range(1.0, note="1.75 is llama.cpp's default"),
    "dry_allowed_length": Range(0),
    "dry_penalty_last_n": Range(-1, note="-1 is the whole context, 0 is off"),
    "seed": Range(0, RANDOM_SEED, note=f"{RANDOM_SEED} draws a new seed each time"),
    "max_tokens": Range(1),
    "eos_bias": Range(),
    "eos_ramp": Range(),
    "eos_ramp_end": Range(0),
    "token_style": Range(),
    "diversity": Range(),
}
"""The valid range of every numeric setting; anything else (nan, inf, out of range) is
refused at the boundary (CLI flags, preset files, the sampling panel) with this range."""


class InvalidSetting(ValueError):
    """A setting's value is out of its range; the message names the setting and the range."""

    def __init__(self, name: str, value: Any, valid: str) -> None:
        super().__init__(f"{name} = {value!r} is not valid; valid: {valid}")
        self.name = name
        self.value = value
        self.valid = valid


def check_value(name: str, value: Any) -> None:
    """Refuse a value a setting cannot take.

    Raises:
        InvalidSetting: out of range, nan or infinite (or a nan / non-number logit bias).
    """
    rng = RANGES.get(name)
    if rng is not None:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not rng.accepts(float(value)):
            raise InvalidSetting(name, value, rng.describe())
    elif name == "penalty_source":
        if value not in PENALTY_SOURCES:
            raise InvalidSetting(name, value, " or ".join(map(repr, PENALTY_SOURCES)))
    elif name in ("logit_bias", "logit_bias_text"):
        for _key, bias in value:
            if not isinstance(bias, int | float) or math.isnan(bias):
                raise InvalidSetting(name, value, "a number or -inf for each bias, not nan")


def check_settings(settings: SamplerSettings) -> None:
    """Every field of `settings` in its range.

    Raises:
        InvalidSetting: the first field that is not.
    """
    for f in dataclasses.fields(settings):
        check_value(f.name, getattr(settings, f.name))
