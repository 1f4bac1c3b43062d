"""Named sampler settings: the built-in presets and the user's own, kept in a TOML file.

The user's presets live under `[presets.NAME]` tables of a TOML file (the config module
decides which file). Only the fields that differ from the defaults are written, so a preset
stays readable and picks up new defaults. An error names the file, the line and the key,
and says what would be valid.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from playground.engine.settings import (
    ADAPTER_DIVERSITY,
    ADAPTER_RAMP,
    ADAPTER_RAMP_END,
    PENALTY_SOURCES,
    InvalidSetting,
    SamplerSettings,
    check_value,
)

GREEDY = SamplerSettings()

LLAMA_CPP_DEFAULTS = SamplerSettings(
    temperature=0.8,
    top_k=40,
    top_p=0.95,
    min_p=0.05,
    repeat_penalty=1.0,
    penalty_last_n=64,
)
"""llama.cpp's own defaults (common_params_sampling)."""

URIAL = SamplerSettings(
    temperature=0.3,
    top_p=1.0,
    repeat_penalty=1.1,
    urial_prompt=True,
    stop=("# Query",),
)
"""URIAL's generation defaults (Lin et al. 2023), with its prompt on."""

ADAPTER = SamplerSettings(
    temperature=0.0,
    eos_ramp=ADAPTER_RAMP,
    eos_ramp_end=ADAPTER_RAMP_END,
    token_style=1.0,
    diversity=ADAPTER_DIVERSITY,
)
"""The rule-based adapter (Hewitt et al. 2024): greedy plus its three rules."""

BUILTIN_PRESETS: dict[str, SamplerSettings] = {
    "greedy": GREEDY,
    "llama.cpp defaults": LLAMA_CPP_DEFAULTS,
    "urial": URIAL,
    "adapter": ADAPTER,
}

_ALIASES = {"llama.cpp": "llama.cpp defaults", "llamacpp": "llama.cpp defaults"}


class PresetError(ValueError):
    """A preset file or name is wrong; the message says where and what would be valid."""


def builtin_preset(name: str) -> SamplerSettings:
    """A built-in preset by name (case-insensitive; "llama.cpp" is accepted too).

    Raises:
        PresetError: no such preset.
    """
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in BUILTIN_PRESETS:
        raise PresetError(f"unknown preset {name!r}; valid: {', '.join(BUILTIN_PRESETS)}")
    return BUILTIN_PRESETS[key]


def find_preset(name: str, user: Mapping[str, SamplerSettings] | None = None) -> SamplerSettings:
    """A user preset by exact name, else a built-in one.

    Raises:
        PresetError: neither has it (the message lists the valid names).
    """
    if user and name in user:
        return user[name]
    try:
        return builtin_preset(name)
    except PresetError:
        valid = [*BUILTIN_PRESETS, *(user or {})]
        raise PresetError(f"unknown preset {name!r}; valid: {', '.join(valid)}") from None


# ---------------------------------------------------------------------------- reading


def _field_types() -> dict[str, str]:
    kinds: dict[str, str] = {}
    for f in dataclasses.fields(SamplerSettings):
        default = f.default
        if f.name in ("logit_bias",):
            kinds[f.name] = "id_pairs"
        elif f.name in ("logit_bias_text",):
            kinds[f.name] = "text_pairs"
        elif isinstance(default, tuple):
            kinds[f.name] = "strings"
        elif isinstance(default, bool):
            kinds[f.name] = "bool"
        elif isinstance(default, int):
            kinds[f.name] = "int"
        elif isinstance(default, float):
            kinds[f.name] = "float"
        else:
            kinds[f.name] = "str"
    return kinds


_KINDS = _field_types()
_KIND_HELP = {
    "id_pairs": "a list of [token id, bias] pairs",
    "text_pairs": 'a list of ["text", bias] pairs',
    "strings": "a list of strings",
    "bool": "true or false",
    "int": "an integer",
    "float": "a number",
    "str": "a string",
}


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _convert(key: str, value: Any) -> Any:
    """The value for field `key`, or raise ValueError with what would be valid."""
    kind = _KINDS[key]
    help_ = _KIND_HELP[kind]
    if kind == "float" and _is_num(value):
        return float(value)
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "str" and isinstance(value, str):
        if key == "penalty_source" and value not in PENALTY_SOURCES:
            raise ValueError(f"must be one of {', '.join(map(repr, PENALTY_SOURCES))}")
        return value
    if kind == "strings" and isinstance(value, list) and all(isinstance(s, str) for s in value):
        return tuple(value)
    if kind in ("id_pairs", "text_pairs") and isinstance(value, list):
        first = int if kind == "id_pairs" else str
        out = []
        for pair in value:
            if not (
                isinstance(pair, list)
                and len(pair) == 2
                and isinstance(pair[0], first)
                and not isinstance(pair[0], bool)
                and (_is_num(pair[1]) or pair[1] in ("-inf", "inf"))
            ):
                raise ValueError(f"must be {help_}; got {pair!r}")
            out.append((pair[0], float(pair[1])))
        return tuple(out)
    raise ValueError(f"must be {help_}; got {value!r}")


def _line_of(text: str, table: str, key: str | None) -> int:
    """1-based line of `key` inside `[table]` (or of the table header); 0 if not found."""
    lines = text.splitlines()
    header = re.compile(r"^\s*\[\s*(.+?)\s*\]\s*(#.*)?$")
    inside = False
    for n, line in enumerate(lines, 1):
        m = header.match(line)
        if m:
            name = m.group(1).replace('"', "").replace("'", "").replace(" ", "")
            inside = name == table.replace('"', "").replace(" ", "")
            if inside and key is None:
                return n
            continue
        if inside and key is not None and re.match(rf"^\s*{re.escape(key)}\s*=", line):
            return n
    return 0


def settings_from_mapping(data: Mapping[str, Any], where: str = "") -> SamplerSettings:
    """SamplerSettings from a dict of field values, on top of the defaults.

    Raises:
        PresetError: an unknown key or a wrong value (the message says which and why).
    """
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _KINDS:
            raise PresetError(
                f"{where}unknown key {key!r}; valid keys: {', '.join(sorted(_KINDS))}"
            )
        try:
            changes[key] = _convert(key, value)
        except ValueError as exc:
            raise PresetError(f"{where}key {key!r} {exc}") from None
        try:
            check_value(key, changes[key])
        except InvalidSetting as exc:
            raise PresetError(
                f"{where}key {key!r}: {value!r} is out of range; valid: {exc.valid}"
            ) from None
    return SamplerSettings(**changes)


def load_user_presets(path: str | os.PathLike[str]) -> dict[str, SamplerSettings]:
    """The `[presets.NAME]` tables of a TOML file; {} when the file does not exist.

    Raises:
        PresetError: the file is not valid TOML, or a preset has an unknown key or a wrong
            value. The message names the file, the line and the key.
    """
    p = Path(path)
    if not p.exists():
        return {}
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetError(f"{p}: cannot read the presets: {exc}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{p}: not valid TOML: {exc}") from None
    presets = doc.get("presets", {})
    if not isinstance(presets, dict):
        raise PresetError(f"{p}:{_line_of(text, 'presets', None)}: 'presets' must be a table")
    out: dict[str, SamplerSettings] = {}
    for name, table in presets.items():
        tname = f"presets.{name}"
        if not isinstance(table, dict):
            raise PresetError(f"{p}: preset {name!r} must be a table ([presets.{name}])")
        for key, value in table.items():
            line = _line_of(text, tname, key) or _line_of(text, tname, None)
            try:
                settings_from_mapping({key: value})
            except PresetError as exc:
                raise PresetError(f"{p}:{line}: preset {name!r}: {exc}") from None
        out[str(name)] = settings_from_mapping(table)
    return out


# ---------------------------------------------------------------------------- writing


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value):
            return '"inf"' if value > 0 else '"-inf"'
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def _toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def preset_to_toml(name: str, settings: SamplerSettings) -> str:
    """The `[presets.NAME]` table for these settings: only the fields off their default."""
    base = SamplerSettings()
    lines = [f"[presets.{_toml_key(name)}]"]
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if value != getattr(base, f.name):
            lines.append(f"{f.name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def save_user_preset(path: str | os.PathLike[str], name: str, settings: SamplerSettings) -> None:
    """Add or replace `[presets.NAME]` in a TOML file, keeping the rest of the file as is."""
    p = Path(path)
    text = p.read_text(encoding="utf-8") if p.exists() else ""
    header = re.compile(r"^\s*\[")
    wanted = f"presets.{name}"
    kept: list[str] = []
    skipping = False
    for line in text.splitlines():
        if header.match(line):
            m = re.match(r"^\s*\[\s*(.+?)\s*\]", line)
            tname = m.group(1).replace('"', "").replace(" ", "") if m else ""
            skipping = tname == wanted.replace(" ", "")
        if not skipping:
            kept.append(line)
    body = "\n".join(kept).rstrip()
    new = (body + "\n\n" if body else "") + preset_to_toml(name, settings)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(new, encoding="utf-8")
