"""The story on the default pair with the shipped defaults: the aligned model answers and
ends its turn; the base model answers and then goes on writing the conversation itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from playground.config.models import parse_config
from playground.config.paths import packaged_config_file
from playground.engine.llama.model import LlamaModel
from playground.engine.settings import SamplerSettings
from playground.engine.types import Finished, TokenEvent
from playground.templates.prompt import build_prompt, default_settings, reply_stops

pytestmark = pytest.mark.demo

QUESTION = "What is the capital of France?"


def first_turn(model: LlamaModel, side: str) -> tuple[list[TokenEvent], Finished]:
    config = parse_config(packaged_config_file().read_text(), Path("models.toml"))
    spec = config.model(config.pair.base if side == "base" else config.pair.aligned)
    ps = default_settings(model, spec.template, spec.system, spec.role)
    settings = SamplerSettings()
    prompt = build_prompt(model, ps, "chat", [], QUESTION)
    events: list[TokenEvent] = []
    fin = None
    for item in model.stream(
        prompt.ids,
        settings=settings,
        max_tokens=settings.max_tokens,
        stop=reply_stops(settings.stop, prompt, ps),
    ):
        if isinstance(item, Finished):
            fin = item
        else:
            events.append(item)
    assert fin is not None
    return events, fin


def test_aligned_answers_and_ends_its_turn(smollm2: LlamaModel) -> None:
    events, fin = first_turn(smollm2, "aligned")
    assert "Paris" in fin.text
    assert fin.reason.value == "eog" and events[-1].is_eog
    assert fin.tokens < 40


def test_base_answers_then_writes_the_next_turns_itself(gemma: LlamaModel) -> None:
    events, fin = first_turn(gemma, "base")
    assert fin.reason.value == "max_tokens"
    assert not any(e.is_eog for e in events)
    assert "Paris" in fin.text
    # it simulates the document: it writes the user's next turn itself
    assert "User:" in fin.text
    # and its newlines are text (Gemma's "\n" is a user-defined token)
    assert "\n" in "".join(e.text for e in events if not e.special)
