"""The lessons: six experiments, one per claim of the course, run live on the loaded pair.

No Textual here: the CLI (`playground lesson`), the app's Lessons screen and the HTML report
all run the same lessons and draw the same figures.
"""

from __future__ import annotations

from collections.abc import Callable

from playground.lessons import document, nudging, sampling, sequence, shift, tricks
from playground.lessons.base import Lesson, RunOptions
from playground.lessons.figures import Bilingual, LessonResult
from playground.lessons.pair import LessonCancelled, LessonPair, ProgressFn

LESSONS: tuple[Lesson, ...] = (
    sequence.LESSON,
    document.LESSON,
    tricks.LESSON,
    shift.LESSON,
    nudging.LESSON,
    sampling.LESSON,
)


class UnknownLesson(KeyError):
    def __init__(self, name: str) -> None:
        valid = ", ".join(f"{lesson.number} {lesson.name}" for lesson in LESSONS)
        super().__init__(f"no lesson {name!r}; valid: {valid} (a name or a number)")
        self.message = f"no lesson {name!r}; valid: {valid} (a name or a number)"

    def __str__(self) -> str:
        return self.message


def get_lesson(name: str) -> Lesson:
    """A lesson by name ('document') or number ('2').

    Raises:
        UnknownLesson: neither.
    """
    key = name.strip().lower()
    for lesson in LESSONS:
        if key in (lesson.name, str(lesson.number)):
            return lesson
    raise UnknownLesson(name)


def run_lesson(
    lesson: Lesson,
    pair: LessonPair,
    *,
    questions: int | None = None,
    max_tokens: int | None = None,
    progress: ProgressFn | None = None,
    cancel: Callable[[], bool] | None = None,
) -> LessonResult:
    """Run one lesson on the pair.

    Raises:
        LessonCancelled: `cancel()` turned true.
        EngineError, TemplateError, TemplateProblem: the models or templates failed.
    """
    defaults = RunOptions()
    options = RunOptions(
        questions=questions or defaults.questions,
        max_tokens=max_tokens or lesson.max_tokens,
        progress=progress,
        cancel=cancel,
    )
    return lesson.run(pair, options)


__all__ = [
    "LESSONS",
    "Bilingual",
    "Lesson",
    "LessonCancelled",
    "LessonPair",
    "LessonResult",
    "RunOptions",
    "UnknownLesson",
    "get_lesson",
    "run_lesson",
]
