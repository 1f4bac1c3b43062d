"""Chat templates and the tokenization inspector (no Textual here).

A template turns a conversation into the exact prompt text; the token view shows how that
text becomes tokens under a model's own tokenizer or tiktoken's. Every Jinja template
renders in jinja2's sandbox.
"""

from __future__ import annotations

from playground.templates.base import FunctionTemplate, JinjaTemplate, Message, Template
from playground.templates.errors import TemplateError, TemplateProblem
from playground.templates.registry import (
    DefaultChoice,
    TemplateSession,
    default_template,
    list_templates,
    load_template_file,
    resolve_template,
    template_names,
)
from playground.templates.tokenview import (
    LlamaTokenizer,
    TiktokenTokenizer,
    Tokenizer,
    TokenRow,
    TokenView,
    both_ways,
    encode_prompt,
    inspect_tokens,
    tiktoken_tokenizer,
    visible_piece,
)

__all__ = [
    "DefaultChoice",
    "FunctionTemplate",
    "JinjaTemplate",
    "LlamaTokenizer",
    "Message",
    "Template",
    "TemplateError",
    "TemplateProblem",
    "TemplateSession",
    "TiktokenTokenizer",
    "TokenRow",
    "TokenView",
    "Tokenizer",
    "both_ways",
    "default_template",
    "encode_prompt",
    "inspect_tokens",
    "list_templates",
    "load_template_file",
    "resolve_template",
    "template_names",
    "tiktoken_tokenizer",
    "visible_piece",
]
