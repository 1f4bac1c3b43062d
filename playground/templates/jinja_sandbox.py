"""Render chat-template Jinja in jinja2's sandbox, and nowhere else.

A chat template stored in a GGUF is Jinja written by whoever made the file. Rendering it in a
plain `jinja2.Environment` is how CVE-2024-34359 ran code in llama-cpp-python. Here every
template, built-in or not, goes through `ImmutableSandboxedEnvironment`, with three more
guards: touching an unsafe attribute fails at once (the stock sandbox returns a silent
Undefined until the second step), loops and calls draw on a budget, and the output is
capped, so a hostile template can neither escape nor hang the app.

The variables are the ones Hugging Face's `apply_chat_template` provides: `messages`,
`add_generation_prompt`, `bos_token`, `eos_token`, `raise_exception`, `strftime_now`, a
`tojson` filter that does not HTML-escape, `{% break %}`/`{% continue %}` and the
`{% generation %}` block.
"""

from __future__ import annotations

import contextvars
import json
import time
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2
import jinja2.ext
from jinja2 import nodes
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from playground.templates.errors import TemplateError, TemplateProblem

MAX_OUTPUT_CHARS = 2_000_000
"""A rendered prompt longer than this is a runaway template, not a conversation."""
MAX_STEPS = 1_000_000
"""Loop iterations over range() plus function calls, per render."""
MAX_RANGE = 10_000
"""Longest range() a template may ask for (jinja2's own sandbox allows 100,000)."""
MAX_SECONDS = 5.0
"""Wall-clock limit per render, checked at every step."""
MAX_REPEAT = 100_000
"""Longest string or list a template may build with `*`."""

_TEMPLATE_FILENAME = "<template>"


class _TemplateRaised(Exception):
    """The template called raise_exception(message)."""


class _Runaway(Exception):
    """The template exceeded a budget."""


@dataclass
class _Budget:
    steps: int = 0
    deadline: float = 0.0

    def charge(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > MAX_STEPS:
            raise _Runaway(f"more than {MAX_STEPS:,} loop steps and calls")
        if time.monotonic() > self.deadline:
            raise _Runaway(f"still rendering after {MAX_SECONDS:g} s")


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "template_budget", default=None
)


def _charge(n: int = 1) -> None:
    budget = _budget.get()
    if budget is not None:
        budget.charge(n)


def _counted_range(*args: int) -> Iterator[int]:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise _Runaway(f"range() of {len(rng):,} items (the limit is {MAX_RANGE:,})")
    return _count_steps(rng)


def _count_steps(items: range) -> Iterator[int]:
    for item in items:
        _charge()
        yield item


def _raise_exception(message: str = "the template refused this conversation") -> None:
    raise _TemplateRaised(str(message))


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    # HF's own tojson: jinja2's built-in one HTML-escapes <, > and &, which a prompt must not.
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


class _GenerationBlock(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}`: HF marks assistant text with it; render as is."""

    tags = {"generation"}

    def parse(self, parser: Parser) -> list[nodes.Node]:
        next(parser.stream)
        body: list[nodes.Node] = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return body


def _sized_mul(left: Any, right: Any) -> Any:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(times, int):
            if len(seq) * times > MAX_REPEAT:
                raise _Runaway(f"a repetition of {len(seq) * times:,} items")
    return left * right


def _sized_pow(left: Any, right: Any) -> Any:
    if isinstance(right, int) and isinstance(left, int) and abs(right) > 1000:
        raise _Runaway(f"an exponent of {right}")
    return left**right


class ChatSandbox(ImmutableSandboxedEnvironment):
    """The sandbox every chat template renders in."""

    intercepted_binops = frozenset(["*", "**"])

    def __init__(self) -> None:
        super().__init__(
            # HF's settings: templates are written for these
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            autoescape=False,
            extensions=[jinja2.ext.loopcontrols, _GenerationBlock],
        )
        self.globals["range"] = _counted_range
        self.globals["raise_exception"] = _raise_exception
        self.globals["strftime_now"] = _strftime_now
        self.filters["tojson"] = _tojson
        self.binop_table["*"] = _sized_mul
        self.binop_table["**"] = _sized_pow

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        # The stock sandbox hands back an Undefined that renders as '' and only fails one
        # step later; refuse at the first touch so nothing of the attempt renders.
        raise SecurityError(f"{attribute!r} of a {type(obj).__name__!r} object")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _charge()
        return super().call(__context, __obj, *args, **kwargs)


_ENV: ChatSandbox | None = None


def sandbox() -> ChatSandbox:
    """The shared sandbox environment, made on first use (no work at import time)."""
    global _ENV
    if _ENV is None:
        _ENV = ChatSandbox()
    return _ENV


def _template_line(exc: BaseException) -> int | None:
    """The template line a runtime error came from: jinja2 maps it into the traceback."""
    line: int | None = None
    tb: types.TracebackType | None = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _TEMPLATE_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _security_message(detail: str) -> str:
    if any(m in detail for m in ("append", "extend", "insert", "pop", "update", "remove")):
        return (
            f"the template tried to modify its input ({detail}) and was refused by the sandbox. "
            "Chat templates are read-only; build new values with {% set %} instead"
        )
    return (
        f"the template tried to reach Python internals ({detail}) and was refused by the "
        "sandbox. Nothing ran. A chat template only needs messages, roles and strings: "
        "remove that expression, or pick another template"
    )


def compile_template(source: str, name: str | None = None) -> jinja2.Template:
    """Parse a template in the sandbox.

    Raises:
        TemplateError: a syntax error, with its line.
    """
    try:
        return sandbox().from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"syntax error: {exc.message}. Fix the Jinja at that line "
            "(every {% if %}/{% for %} needs its {% endif %}/{% endfor %}); "
            "the previous template stays in use",
            problem=TemplateProblem.SYNTAX,
            line=exc.lineno,
            source_name=name,
        ) from None


def render_compiled(
    template: jinja2.Template,
    variables: Mapping[str, Any],
    name: str | None = None,
) -> str:
    """Render a compiled template under the sandbox's budgets.

    Raises:
        TemplateError: the template failed; its message says why and what would fix it.
    """
    token = _budget.set(_Budget(deadline=time.monotonic() + MAX_SECONDS))
    parts: list[str] = []
    size = 0
    try:
        for chunk in template.generate(**variables):
            parts.append(chunk)
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise _Runaway(f"more than {MAX_OUTPUT_CHARS:,} characters of output")
    except SecurityError as exc:
        raise TemplateError(
            _security_message(str(exc)),
            problem=TemplateProblem.SECURITY,
            line=_template_line(exc),
            source_name=name,
        ) from None
    except _TemplateRaised as exc:
        raise TemplateError(
            f"the template refused this conversation: {exc}. Change the conversation to fit "
            "its rules, or pick another template",
            problem=TemplateProblem.RAISED,
            line=_template_line(exc),
            source_name=name,
        ) from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(
            f"the template used an undefined value ({exc.message}). Chat templates get "
            "messages, add_generation_prompt, bos_token and eos_token; guard other values "
            "with `is defined`",
            problem=TemplateProblem.UNDEFINED,
            line=_template_line(exc),
            source_name=name,
        ) from None
    except _Runaway as exc:
        raise TemplateError(
            f"the template ran away ({exc}) and was stopped. Nothing a chat template does "
            "needs that much work; fix its loops",
            problem=TemplateProblem.RUNAWAY,
            line=_template_line(exc),
            source_name=name,
        ) from None
    except jinja2.TemplateError as exc:
        raise TemplateError(
            f"rendering failed: {exc}",
            problem=TemplateProblem.RUNTIME,
            line=_template_line(exc),
            source_name=name,
        ) from None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError) as exc:
        raise TemplateError(
            f"rendering failed: {type(exc).__name__}: {exc}. Check the expression at that line",
            problem=TemplateProblem.RUNTIME,
            line=_template_line(exc),
            source_name=name,
        ) from None
    except RecursionError:
        raise TemplateError(
            "the template recursed without end and was stopped; fix its macros",
            problem=TemplateProblem.RUNAWAY,
            source_name=name,
        ) from None
    finally:
        _budget.reset(token)
    return "".join(parts)


def hf_variables(
    messages: Sequence[Mapping[str, str]],
    add_generation_prompt: bool,
    bos_token: str,
    eos_token: str,
) -> dict[str, Any]:
    """The variables HF's apply_chat_template passes (copies: the template gets no handle on
    the caller's objects)."""
    return {
        "messages": [dict(m) for m in messages],
        "add_generation_prompt": add_generation_prompt,
        "bos_token": bos_token,
        "eos_token": eos_token,
    }
