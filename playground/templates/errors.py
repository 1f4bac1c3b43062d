"""The one exception every template failure becomes.

Whatever goes wrong in a template (a user's file, a GGUF's own Jinja, a built-in's role
rules), the caller catches one class, shows its message, and keeps the previous template.
Each message names the problem and what would fix it.
"""

from __future__ import annotations

from enum import StrEnum


class TemplateProblem(StrEnum):
    """What kind of failure a TemplateError is, for callers that style them differently."""

    SYNTAX = "syntax"
    SECURITY = "security"
    RAISED = "raised"
    UNDEFINED = "undefined"
    RUNAWAY = "runaway"
    RUNTIME = "runtime"
    MISSING = "missing"
    """No such template, or the model has no template of its own."""


class TemplateError(Exception):
    """A template could not be loaded or rendered.

    Attributes:
        problem: what kind of failure it was.
        line: the template's line where it happened, when known.
        source_name: the template's name or file, for the message.
    """

    def __init__(
        self,
        message: str,
        *,
        problem: TemplateProblem,
        line: int | None = None,
        source_name: str | None = None,
    ) -> None:
        where = ""
        if source_name:
            where = f"{source_name}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        elif line is not None:
            where = f"line {line}: "
        super().__init__(where + message)
        self.problem = problem
        self.line = line
        self.source_name = source_name
        self.detail = message
