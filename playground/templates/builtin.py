"""The built-in chat layouts, each written to match its family's official template.

Each function mirrors the Hugging Face template of the family, quirks included (Llama 3 and
Gemma trim each message; Gemma folds the system prompt into the first user turn and has no
system role; Mistral has no generation prompt, since `[/INST]` already is one). The tests
check each against a hand-written rendering of the official format, and ChatML against
SmolLM2's own GGUF template rendered in the sandbox.
"""

from __future__ import annotations

from collections.abc import Sequence

from playground.templates.base import FunctionTemplate, Message, Template
from playground.templates.errors import TemplateError, TemplateProblem


def _refuse(name: str, why: str) -> TemplateError:
    return TemplateError(
        f"the template refused this conversation: {why}. Change the conversation to fit its "
        "rules, or pick another template",
        problem=TemplateProblem.RAISED,
        source_name=name,
    )


def _split_system(messages: Sequence[Message]) -> tuple[str | None, list[Message]]:
    if messages and messages[0]["role"] == "system":
        return messages[0]["content"], list(messages[1:])
    return None, list(messages)


def _check_alternation(name: str, turns: Sequence[Message]) -> None:
    for i, m in enumerate(turns):
        expected = "user" if i % 2 == 0 else "assistant"
        if m["role"] != expected:
            raise _refuse(
                name,
                "after the optional system message, roles must alternate "
                f"user/assistant/user/... (message {i + 1} is {m['role']!r})",
            )


def chatml(messages: Sequence[Message], gen: bool, bos: str, eos: str) -> str:
    out = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
    if gen:
        out.append("<|im_start|>assistant\n")
    return "".join(out)


def llama3(messages: Sequence[Message], gen: bool, bos: str, eos: str) -> str:
    # Meta-Llama-3-8B-Instruct's template: BOS first, each content trimmed.
    out = [bos]
    for m in messages:
        out.append(
            f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content'].strip()}<|eot_id|>"
        )
    if gen:
        out.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    return "".join(out)


def gemma(messages: Sequence[Message], gen: bool, bos: str, eos: str) -> str:
    # Gemma 2/3: no system role; the system text opens the first user turn, then a blank line.
    system, turns = _split_system(messages)
    _check_alternation("gemma", turns)
    out = [bos]
    for i, m in enumerate(turns):
        role = "model" if m["role"] == "assistant" else m["role"]
        prefix = system + "\n\n" if (i == 0 and system is not None) else ""
        out.append(f"<start_of_turn>{role}\n{prefix}{m['content'].strip()}<end_of_turn>\n")
    if gen:
        out.append("<start_of_turn>model\n")
    return "".join(out)


def mistral(messages: Sequence[Message], gen: bool, bos: str, eos: str) -> str:
    # Mistral Instruct: <s>[INST] q [/INST] a</s>[INST] q2 [/INST]; the system text opens
    # the first instruction.
    system, turns = _split_system(messages)
    _check_alternation("mistral", turns)
    out = [bos]
    for i, m in enumerate(turns):
        if m["role"] == "user":
            text = (
                f"{system}\n\n{m['content']}" if (i == 0 and system is not None) else m["content"]
            )
            out.append(f"[INST] {text} [/INST]")
        else:
            out.append(f" {m['content']}{eos}")
    return "".join(out)


ALPACA_PREAMBLE = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request."
)


def alpaca(messages: Sequence[Message], gen: bool, bos: str, eos: str) -> str:
    system, turns = _split_system(messages)
    out = [(system if system is not None else ALPACA_PREAMBLE) + "\n\n"]
    for m in turns:
        header = "### Response:" if m["role"] == "assistant" else "### Instruction:"
        out.append(f"{header}\n{m['content']}\n\n")
    if gen:
        out.append("### Response:\n")
    return "".join(out)


def plain(messages: Sequence[Message], gen: bool, bos: str, eos: str) -> str:
    labels = {"user": "User", "assistant": "Assistant"}
    parts = []
    for m in messages:
        if m["role"] == "system":
            parts.append(m["content"])
        else:
            parts.append(f"{labels.get(m['role'], m['role'].title())}: {m['content']}")
    if gen:
        # No trailing space: in most vocabularies the space belongs to the next word.
        parts.append("Assistant:")
    return "\n\n".join(parts)


def gpt4o(messages: Sequence[Message], gen: bool, bos: str, eos: str) -> str:
    # Tiktokenizer's GPT-4o layout: no newlines anywhere, <|im_sep|> after the role.
    out = [f"<|im_start|>{m['role']}<|im_sep|>{m['content']}<|im_end|>" for m in messages]
    if gen:
        out.append("<|im_start|>assistant<|im_sep|>")
    return "".join(out)


def none(messages: Sequence[Message], gen: bool, bos: str, eos: str) -> str:
    # The conversation is a document: its text only, nothing added, no generation prompt.
    return "\n\n".join(m["content"] for m in messages)


def builtin_templates() -> dict[str, Template]:
    """Every built-in except `gguf` (which needs a model), by name, in picker order."""
    from playground.templates.urial import urial_plain_template, urial_template

    templates: list[Template] = [
        FunctionTemplate(
            "chatml",
            "ChatML (SmolLM2, Qwen): <|im_start|>role\\n...<|im_end|>",
            chatml,
            special_tokens=("<|im_start|>", "<|im_end|>"),
            stop=("<|im_end|>",),
        ),
        FunctionTemplate(
            "llama3",
            "Llama 3: <|start_header_id|>role<|end_header_id|>, <|eot_id|> after each turn",
            llama3,
            special_tokens=("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
            stop=("<|eot_id|>",),
        ),
        FunctionTemplate(
            "gemma",
            "Gemma: <start_of_turn>user/model ... <end_of_turn>; system folded into 1st turn",
            gemma,
            special_tokens=("<start_of_turn>", "<end_of_turn>"),
            stop=("<end_of_turn>",),
        ),
        FunctionTemplate(
            "mistral",
            "Mistral Instruct: <s>[INST] ... [/INST] answer</s>",
            mistral,
        ),
        FunctionTemplate(
            "alpaca",
            "Alpaca: ### Instruction: / ### Response: (plain text, no special tokens)",
            alpaca,
            stop=("### Instruction:",),
        ),
        FunctionTemplate(
            "plain",
            "Plain text: User: ... / Assistant: ... (works with any model)",
            plain,
            stop=("\n\nUser:",),
        ),
        FunctionTemplate(
            "gpt4o",
            "GPT-4o as Tiktokenizer shows it: <|im_start|>role<|im_sep|>...<|im_end|>",
            gpt4o,
            special_tokens=("<|im_start|>", "<|im_sep|>", "<|im_end|>"),
            stop=("<|im_end|>",),
        ),
        urial_template(),
        urial_plain_template(),
        FunctionTemplate(
            "none",
            "No template: the text is a document for the model to continue",
            none,
        ),
    ]
    return {t.name: t for t in templates}
