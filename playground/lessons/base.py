"""What a lesson is: a name, its claim in both languages, and an experiment to run.

Every lesson module defines one `Lesson` whose `run` takes the loaded pair and the run's
options, reports progress through the options' callback, and returns a `LessonResult`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from playground.lessons.figures import Bilingual, LessonResult
from playground.lessons.pair import LessonPair, ProgressFn
from playground.lessons.questions import QUESTIONS, Question


@dataclass(frozen=True)
class RunOptions:
    """How big to make the experiment, and who is listening."""

    questions: int = 4
    """How many of the everyday questions to ask (lessons 2 to 5)."""
    max_tokens: int = 64
    """Longest reply. A base model that never stops runs this long, every time."""
    progress: ProgressFn | None = None
    cancel: Callable[[], bool] | None = None

    def question_list(self) -> tuple[Question, ...]:
        n = max(1, min(self.questions, len(QUESTIONS)))
        return QUESTIONS[:n]


@dataclass(frozen=True)
class Lesson:
    name: str
    number: int
    title: Bilingual
    claim: Bilingual
    explanation: Bilingual
    """2 to 4 sentences: what to look at, and what the published figure was."""
    run: Callable[[LessonPair, RunOptions], LessonResult]
    max_tokens: int = 64
    """The default reply budget for this lesson (sized to run in under a minute)."""

    def result(self, pair: LessonPair, **fields: Any) -> LessonResult:
        """This lesson's result on `pair`: its name and texts, the pair's names, and the
        run's own `fields` (finding, figures, setup, notes, elapsed_s, data)."""
        return LessonResult(
            name=self.name,
            number=self.number,
            title=self.title,
            claim=self.claim,
            explanation=self.explanation,
            models=(pair.name("base"), pair.name("aligned")),
            **fields,
        )


def pct(x: float) -> str:
    return f"{x:.0%}" if x in (0.0, 1.0) else f"{x:.1%}"


def frac(k: int, n: int) -> str:
    return f"{k}/{n}"
