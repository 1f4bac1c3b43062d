"""Prompt building moved to the core (playground.templates.prompt), so the CLI and the
benchmarks build the same prompts as the app; this keeps the old import path working."""

from __future__ import annotations

from playground.templates.prompt import (
    PromptSettings,
    RenderedPrompt,
    TemplateProblem,
    build_prompt,
    default_reason,
    default_template,
    render_text,
)
from playground.templates.prompt import template_names as _names


def template_names(model: object = None) -> list[str]:
    """The templates a user can pick (the same for every model)."""
    return _names()


__all__ = [
    "PromptSettings",
    "RenderedPrompt",
    "TemplateProblem",
    "build_prompt",
    "default_reason",
    "default_template",
    "render_text",
    "template_names",
]
