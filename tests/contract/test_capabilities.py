"""Capabilities are data: what a backend lacks is known before asking, with a reason to show."""

from __future__ import annotations

import pytest

from playground.engine.backend import (
    ALL_SETTINGS,
    CAPABILITY_NAMES,
    TRICK_FIELDS,
    Capabilities,
    Unsupported,
    describe_capabilities,
    in_process_capabilities,
)
from playground.engine.settings import SamplerSettings

SERVER_LIKE = Capabilities(
    max_top_k=20,
    full_vocab_ranks=False,
    live_sampler_changes=False,
    logit_tricks=False,
    logit_rows=False,
    settings=ALL_SETTINGS - TRICK_FIELDS - {"dry_multiplier"},
    reasons={
        "logit_tricks": "the server samples on its side and never shows us the logits",
        "dry_multiplier": "vLLM has no DRY sampler",
        "live_sampler_changes": "a request's settings are fixed when it is sent",
    },
)


def test_in_process_has_everything() -> None:
    caps = in_process_capabilities(262144)
    assert caps.max_top_k == 262144
    assert all(caps.why_not(name) is None for name in CAPABILITY_NAMES)
    assert all(caps.why_not(name) is None for name in ALL_SETTINGS)
    assert caps.unsupported_settings(SamplerSettings(ban_eos=True, dry_multiplier=0.8)) == ()


def test_a_missing_capability_gives_its_reason() -> None:
    assert SERVER_LIKE.why_not("live_sampler_changes") == (
        "a request's settings are fixed when it is sent"
    )
    assert SERVER_LIKE.why_not("score_text") is None
    # a trick field without a reason of its own borrows the tricks' reason
    assert SERVER_LIKE.why_not("ban_eos") == SERVER_LIKE.reasons["logit_tricks"]
    assert SERVER_LIKE.why_not("dry_multiplier") == "vLLM has no DRY sampler"
    # no reason given: a generic one that names the capability, never an empty string
    assert "full vocabulary" in (SERVER_LIKE.why_not("full_vocab_ranks") or "")
    # what the caller handles itself is always supported
    assert SERVER_LIKE.why_not("max_tokens") is None and SERVER_LIKE.why_not("stop") is None


def test_unknown_names_are_an_error_not_a_silent_false() -> None:
    with pytest.raises(KeyError, match="nonsense"):
        SERVER_LIKE.why_not("nonsense")


def test_only_changed_settings_that_do_not_apply_are_reported() -> None:
    assert SERVER_LIKE.unsupported_settings(SamplerSettings(temperature=0.7, top_k=40)) == ()
    asked = SamplerSettings(temperature=0.7, ban_eos=True, eos_bias=2.0, dry_multiplier=0.8)
    assert set(SERVER_LIKE.unsupported_settings(asked)) == {"ban_eos", "eos_bias", "dry_multiplier"}


def test_check_settings_refuses_with_the_reason() -> None:
    with pytest.raises(Unsupported, match=r"server-x cannot do the sampler setting ban_eos: the "):
        SERVER_LIKE.check_settings("server-x", SamplerSettings(ban_eos=True))
    SERVER_LIKE.check_settings("server-x", SamplerSettings(temperature=1.0))


def test_describe_lists_every_flag_with_its_reason() -> None:
    rows = describe_capabilities(SERVER_LIKE)
    assert rows[0] == ("top-k up to 20", True, "")
    assert len(rows) == 1 + len(CAPABILITY_NAMES)
    off = {label: reason for label, ok, reason in rows if not ok}
    assert off["live sampler changes"] == "a request's settings are fixed when it is sent"
    assert all(reason for reason in off.values())
