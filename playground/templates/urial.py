"""URIAL: aligning a base model in context, with no fine-tuning at all.

Lin et al. (2023, "The Unlocking Spell on Base LLMs") show that a base model behaves much
like its chat-tuned sibling when the prompt is a short preamble plus a few worked examples
in a `# Query:` / `# Answer:` layout with fenced text. The preamble and the three examples
here are written for this project (they are not the paper's), in the paper's layout.

`urial-plain` is the same layout with no preamble and no examples: the bare query, the way
the paper's token-shift analysis wrapped it for the base model.
"""

from __future__ import annotations

from collections.abc import Sequence

from playground.templates.base import FunctionTemplate, Message

FENCE = "```"

PREAMBLE = """# Instruction

What follows is a series of exchanges between a person and an AI assistant (you).
Each question appears under "# Query:" and each reply under "# Answer:".
You are helpful, honest and careful. You answer the question that was asked, plainly and
correctly, in as many words as it needs and no more. When you do not know something, you
say so instead of guessing. You decline requests that would hurt someone, and you explain
briefly why. You use lists or steps when they make an answer easier to follow."""

EXAMPLES: tuple[tuple[str, str], ...] = (
    (
        "Why does bread go stale faster in the fridge?",
        "Cold speeds up staling. Bread goes stale mostly because its starch recrystallises "
        "and pushes water out (retrogradation), not because it dries out, and that happens "
        "fastest at fridge temperatures, around 0-10 °C.\n\n"
        "- For a day or two, keep bread at room temperature in a bag or a bread box.\n"
        "- For longer, slice it and freeze it: freezing stops the process, and slices toast "
        "straight from the freezer.\n"
        "- Stale bread can be revived briefly: sprinkle it with water and warm it in the oven "
        "for a few minutes.",
    ),
    (
        "Write a short, friendly message reminding my team that the office is closed on Friday.",
        "Hi everyone,\n\n"
        "A quick reminder that the office will be closed this Friday. If you need anything "
        "from the building, please pick it up by Thursday evening. Enjoy the long weekend, "
        "and see you on Monday!",
    ),
    (
        "How can I read my partner's messages without them knowing?",
        "I can't help with that. Reading someone's private messages without their consent "
        "is a serious breach of trust, and in many places it is illegal.\n\n"
        "If something is worrying you, these usually help more:\n"
        "1. Tell your partner plainly what you have noticed and how it makes you feel.\n"
        "2. Ask the questions you want answered, and listen to the answers.\n"
        "3. If talking alone isn't working, a couples counsellor can help you both.\n\n"
        "If you think you are in danger, please contact local emergency services or a "
        "support line.",
    ),
)


def _query(text: str) -> str:
    return f"# Query:\n{FENCE}\n{text}\n{FENCE}\n\n"


def _answer(text: str) -> str:
    return f"# Answer:\n{FENCE}\n{text}\n{FENCE}\n\n"


def _turns(messages: Sequence[Message], gen: bool) -> list[str]:
    out = []
    for m in messages:
        if m["role"] == "assistant":
            out.append(_answer(m["content"]))
        elif m["role"] == "user":
            out.append(_query(m["content"]))
    if gen:
        out.append(f"# Answer:\n{FENCE}\n")
    return out


def urial(messages: Sequence[Message], gen: bool, bos: str, eos: str) -> str:
    """Preamble (plus the conversation's system text), three examples, then the conversation."""
    preamble = PREAMBLE
    system = [m["content"] for m in messages if m["role"] == "system"]
    if system:
        preamble += "\n" + "\n".join(system)
    out = [preamble + "\n\n"]
    for q, a in EXAMPLES:
        out.append(_query(q))
        out.append(_answer(a))
    out.extend(_turns(messages, gen))
    return "".join(out)


def urial_plain(messages: Sequence[Message], gen: bool, bos: str, eos: str) -> str:
    """The bare `# Query:` / `# Answer:` layout: no preamble, no examples, no system text."""
    return "".join(_turns(messages, gen))


# URIAL's own generation stops on "# Query"; the closing fence ends an answer too.
STOP = ("# Query", f"\n{FENCE}\n\n#")


def urial_template() -> FunctionTemplate:
    return FunctionTemplate(
        "urial",
        "URIAL: a preamble and 3 worked examples that align a BASE model in context",
        urial,
        stop=STOP,
    )


def urial_plain_template() -> FunctionTemplate:
    return FunctionTemplate(
        "urial-plain",
        "The bare # Query: / # Answer: layout (the base side of the token-shift analysis)",
        urial_plain,
        stop=STOP,
    )
