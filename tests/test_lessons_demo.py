"""The story holds on the demo pair (Gemma 3 270M base, SmolLM2-135M-Instruct), each side
with its template and system prompt from the shipped models.toml:

- lesson 2: the base model stops on its own less often than the aligned model;
- lesson 3: the tricks raise the base model's stop rate above plain greedy decoding.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from playground.config.models import parse_config
from playground.engine.backend import Backend
from playground.lessons import LessonPair, get_lesson, run_lesson

SHIPPED = Path(__file__).resolve().parents[1] / "models.toml"

pytestmark = pytest.mark.demo

QUESTIONS = 2
"""Two of the lessons' questions: each lesson runs in full, at half its default size, so the
suite stays affordable on two shared cores."""


@pytest.fixture(scope="module")
def demo_pair(gemma: Backend, smollm2: Backend) -> LessonPair:
    config = parse_config(SHIPPED.read_text(encoding="utf-8"), SHIPPED)
    base, aligned = config.model(config.pair.base), config.model(config.pair.aligned)
    return LessonPair(
        gemma,
        smollm2,
        base_template=base.template or "default",
        aligned_template=aligned.template or "default",
        base_system=base.system,
        aligned_system=aligned.system,
    )


def test_document_base_stops_less_often_than_aligned(demo_pair: LessonPair) -> None:
    r = run_lesson(get_lesson("document"), demo_pair, questions=QUESTIONS)
    rate = r.data["stop_rate"]
    assert rate["base"] < rate["aligned"], r.data["replies"]


def test_tricks_raise_the_base_stop_rate(demo_pair: LessonPair) -> None:
    r = run_lesson(get_lesson("tricks"), demo_pair, questions=QUESTIONS)
    t = r.data["tricks"]
    greedy = t["greedy"]["stop_rate"]
    best = max(t[k]["stop_rate"] for k in ("eos_ramp", "adapter", "urial"))
    assert best > greedy, {k: (v["stop_rate"], v["reasons"]) for k, v in t.items()}
