"""Everyday questions with the answers a reply must contain, and what a reply did instead.

The lessons ask both models the same short questions. Whether a reply "answers" is checked
by the expected word (or number) appearing before the reply starts a new turn of its own;
what a base model does instead of stopping is sorted into three kinds the course names:
it invents the next turn, it repeats itself, or it drifts to something else.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Question:
    text: str
    answers: tuple[str, ...]
    """Any of these (case-insensitive, as a whole word) counts as the answer."""


QUESTIONS: tuple[Question, ...] = (
    Question("What is the capital of France?", ("Paris",)),
    Question("How many days are there in a week?", ("seven", "7")),
    Question("What is the largest planet in our solar system?", ("Jupiter",)),
    Question("What color is the sky on a clear day?", ("blue",)),
    Question("How many legs does a spider have?", ("eight", "8")),
    Question("What do bees make?", ("honey",)),
    Question("What is the opposite of hot?", ("cold",)),
    Question("What is 2+2?", ("4", "four")),
)

# A line that opens a new turn: "User:", "Q:", "Question:", "### Instruction", "# Query",
# or a chat format's own turn token written as text.
_TURN = re.compile(
    r"(^|\n)\s*(?:(?:user|human|question|q|assistant|answer|a|model|bot|ai|system)\s*:"
    r"|#+\s*(?:query|instruction|question|input|response))"
    r"|<start_of_turn>|<\|im_start\|>|<\|start_header_id\|>|<\|user\|>|\[INST\]",
    re.IGNORECASE,
)


class Behaviour(StrEnum):
    """What a reply did."""

    STOPPED = "stopped"
    """Ended with an end-of-generation token."""
    NEXT_TURN = "invents the next turn"
    REPEATS = "repeats"
    DRIFTS = "drifts"


BEHAVIOUR_ZH = {
    Behaviour.STOPPED: "自行停止",
    Behaviour.NEXT_TURN: "编造下一轮对话",
    Behaviour.REPEATS: "重复自己",
    Behaviour.DRIFTS: "跑题",
}


def first_turn_marker(text: str) -> int | None:
    """Where the reply starts a new turn of its own (None if it never does).

    A marker at the very start is the reply's own opening ("Answer: Paris"), not a new
    turn, so only markers after some text count.
    """
    for m in _TURN.finditer(text):
        if text[: m.start()].strip():
            return m.start()
    return None


def answered(text: str, question: Question) -> bool:
    """The expected answer appears before the reply invents a next turn."""
    cut = first_turn_marker(text)
    head = text if cut is None else text[:cut]
    return any(
        re.search(rf"(?<![\w]){re.escape(a)}(?![\w])", head, re.IGNORECASE)
        for a in question.answers
    )


def repeats(ids: Sequence[int], n: int = 4, times: int = 3) -> bool:
    """Some run of n tokens occurs at least `times` times."""
    grams = Counter(tuple(ids[i : i + n]) for i in range(len(ids) - n + 1))
    return bool(grams) and max(grams.values()) >= times


def behaviour(text: str, ids: Sequence[int], stopped: bool) -> Behaviour:
    """Stopped, else the first that applies: invents the next turn, repeats, drifts."""
    if stopped:
        return Behaviour.STOPPED
    if first_turn_marker(text) is not None:
        return Behaviour.NEXT_TURN
    if repeats(ids):
        return Behaviour.REPEATS
    return Behaviour.DRIFTS
