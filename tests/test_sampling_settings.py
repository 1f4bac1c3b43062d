"""Presets, the user's preset file, the CLI flags and the ramp: pure units, no model."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pytest

from playground.engine.llama.tricks import eos_ramp_value
from playground.engine.settings import SamplerSettings
from playground.sampling.cli_args import add_sampler_args, settings_from_args
from playground.sampling.presets import (
    ADAPTER,
    BUILTIN_PRESETS,
    PresetError,
    builtin_preset,
    load_user_presets,
    save_user_preset,
)


@pytest.mark.parametrize(
    ("length", "want"), [(0, 0.0), (1, 0.06), (100, 6.0), (249, 14.94), (250, 0.0), (400, 0.0)]
)
def test_adapter_ramp_values(length: int, want: float) -> None:
    assert eos_ramp_value(length, 0.06, 250) == pytest.approx(want)


def test_builtin_presets_hold_the_published_values() -> None:
    llama = builtin_preset("llama.cpp defaults")
    assert (llama.temperature, llama.top_k, llama.top_p, llama.min_p) == (0.8, 40, 0.95, 0.05)
    assert (llama.repeat_penalty, llama.penalty_last_n) == (1.0, 64)
    urial = builtin_preset("URIAL")
    assert (urial.temperature, urial.top_p, urial.repeat_penalty) == (0.3, 1.0, 1.1)
    assert urial.urial_prompt and "# Query" in urial.stop
    assert ADAPTER.greedy and ADAPTER.eos_ramp == 0.06 and ADAPTER.diversity == 1.5
    assert ADAPTER.token_style == 1.0
    assert builtin_preset("greedy") == SamplerSettings()
    with pytest.raises(PresetError, match="valid: greedy"):
        builtin_preset("nope")


def test_user_presets_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[models]\nbase = "x.gguf"\n', encoding="utf-8")
    mine = SamplerSettings(
        temperature=0.7,
        stop=("# Query", 'say "hi"\n'),
        logit_bias=((5, -math.inf), (7, 2.5)),
        logit_bias_text=(("Hello", -3.0),),
        penalty_source="prompt+reply",
        ban_eos=True,
    )
    save_user_preset(path, "my preset", mine)
    save_user_preset(path, "calm", SamplerSettings(temperature=0.2))
    save_user_preset(path, "calm", SamplerSettings(temperature=0.1))  # replaces
    loaded = load_user_presets(path)
    assert loaded == {"my preset": mine, "calm": SamplerSettings(temperature=0.1)}
    assert 'base = "x.gguf"' in path.read_text(encoding="utf-8")  # the rest is kept


def test_user_preset_errors_name_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[presets.fast]\ntemperature = 0.5\ntop_k = 'many'\n", encoding="utf-8")
    with pytest.raises(PresetError) as err:
        load_user_presets(path)
    msg = str(err.value)
    assert f"{path}:3" in msg and "'top_k'" in msg and "integer" in msg
    path.write_text("[presets.fast]\ntemprature = 0.5\n", encoding="utf-8")
    with pytest.raises(PresetError, match=r"p\.toml:2.*'temprature'.*temperature"):
        load_user_presets(path)
    path.write_text("[presets.fast]\npenalty_source = 'all'\n", encoding="utf-8")
    with pytest.raises(PresetError, match="prompt\\+reply"):
        load_user_presets(path)
    assert load_user_presets(tmp_path / "missing.toml") == {}


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_sampler_args(p)
    return p.parse_args(list(argv))


def test_cli_preset_then_flags_override() -> None:
    s = settings_from_args(parse("--preset", "urial", "--temp", "0", "--stop", "END"))
    assert s.temperature == 0.0 and s.repeat_penalty == 1.1 and s.urial_prompt
    assert s.stop == ("END",)
    assert settings_from_args(parse()) == SamplerSettings()


def test_cli_every_setting_is_reachable() -> None:
    s = settings_from_args(
        parse(
            *("--top-k", "5", "--top-p", "0.9", "--min-p", "0.1", "--repeat-penalty", "1.2"),
            *("--repeat-last-n", "32", "--frequency-penalty", "0.5", "--presence-penalty", "1"),
            *("--penalty-source", "prompt+reply", "--dry-multiplier", "0.8", "--dry-base", "2"),
            *("--dry-allowed-length", "3", "--dry-penalty-last-n", "100", "--dry-breaker", "."),
            *("--logit-bias", "42=-inf", "--logit-bias-text", "Hello=2", "--seed", "9"),
            *("-n", "50", "--eos-bias", "1", "--eos-ramp", "0.06", "--eos-ramp-end", "200"),
            *("--ban-eos", "--token-style", "2", "--diversity", "1.5", "--urial"),
        )
    )
    assert s.top_k == 5 and s.top_p == 0.9 and s.min_p == 0.1 and s.repeat_penalty == 1.2
    assert s.penalty_last_n == 32 and s.frequency_penalty == 0.5 and s.presence_penalty == 1
    assert s.penalty_source == "prompt+reply" and s.dry_multiplier == 0.8 and s.dry_base == 2
    assert s.dry_allowed_length == 3 and s.dry_penalty_last_n == 100
    assert s.dry_sequence_breakers == (".",)
    assert s.logit_bias == ((42, -math.inf),) and s.logit_bias_text == (("Hello", 2.0),)
    assert s.seed == 9 and s.max_tokens == 50 and s.eos_bias == 1 and s.eos_ramp == 0.06
    assert s.eos_ramp_end == 200 and s.ban_eos and s.token_style == 2 and s.diversity == 1.5
    assert s.urial_prompt
    with pytest.raises(PresetError, match="ID must be an integer"):
        settings_from_args(parse("--logit-bias", "x=1"))
    assert set(BUILTIN_PRESETS) == {"greedy", "llama.cpp defaults", "urial", "adapter"}


def test_user_preset_wins_over_builtin_name() -> None:
    mine = {"greedy": SamplerSettings(temperature=0.5)}
    assert settings_from_args(parse("--preset", "greedy"), mine).temperature == 0.5
