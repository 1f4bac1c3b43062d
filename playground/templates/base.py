"""What a chat template is: a conversation plus a flag in, the exact prompt text out.

Built-ins are plain Python (their layouts are short and their output is checked against
each family's official template in the tests); anything written in Jinja (a GGUF's own
template, a user's file) is a `JinjaTemplate` and renders in the sandbox.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence

from playground.templates.jinja_sandbox import compile_template, hf_variables, render_compiled

Message = Mapping[str, str]
"""One turn: {"role": "system" | "user" | "assistant", "content": text}."""

_PROBE: tuple[Message, ...] = ({"role": "user", "content": "x"},)
_BOS_SENTINEL = "\x00BOS\x00"

# Special-token-looking literals in a Jinja template: <|...|> (ChatML, Llama 3, Phi),
# Gemma's turn markers and the SentencePiece <s>/</s>.
_SPECIAL_LITERAL = re.compile(r"<\|[A-Za-z0-9_.:-]{1,40}\|>|<(?:start|end)_of_turn>")


class Template(ABC):
    """A chat template.

    Attributes:
        name: how the user picks it ("chatml", "gguf", a file's stem).
        description: one line for the picker.
        special_tokens: special-token strings the rendered text relies on (beyond BOS/EOS),
            checked against the tokenizer's vocabulary.
        stop: strings that end a reply in this layout (for models that never emit EOS here).
    """

    name: str
    description: str
    special_tokens: tuple[str, ...] = ()
    stop: tuple[str, ...] = ()

    @abstractmethod
    def render(
        self,
        messages: Sequence[Message],
        add_generation_prompt: bool = True,
        bos_token: str = "",
        eos_token: str = "",
    ) -> str:
        """The exact prompt text.

        Raises:
            TemplateError: the template failed or refused the conversation.
        """

    def emits_bos(self) -> bool:
        """Whether the rendered text starts with the BOS text it is given.

        Decided by rendering a one-message probe; a template that fails on the probe is
        taken not to.
        """
        from playground.templates.errors import TemplateError

        try:
            text = self.render(_PROBE, True, _BOS_SENTINEL, "")
        except TemplateError:
            return False
        return text.startswith(_BOS_SENTINEL)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class FunctionTemplate(Template):
    """A built-in layout written in Python."""

    def __init__(
        self,
        name: str,
        description: str,
        fn: Callable[[Sequence[Message], bool, str, str], str],
        *,
        special_tokens: tuple[str, ...] = (),
        stop: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.description = description
        self._fn = fn
        self.special_tokens = special_tokens
        self.stop = stop

    def render(
        self,
        messages: Sequence[Message],
        add_generation_prompt: bool = True,
        bos_token: str = "",
        eos_token: str = "",
    ) -> str:
        return self._fn(messages, add_generation_prompt, bos_token, eos_token)


class JinjaTemplate(Template):
    """Jinja source (a GGUF's `tokenizer.chat_template` or a user's file), sandboxed.

    Raises (on construction):
        TemplateError: the source does not parse; the message carries the line.
    """

    def __init__(self, name: str, source: str, description: str = "", origin: str = "") -> None:
        self.name = name
        self.source = source
        self.origin = origin or name
        """Where the source came from, for error messages (a file path, "the GGUF")."""
        self.description = description or f"Jinja template from {self.origin}"
        self._compiled = compile_template(source, self.origin)
        self.special_tokens = tuple(dict.fromkeys(_SPECIAL_LITERAL.findall(source)))

    def render(
        self,
        messages: Sequence[Message],
        add_generation_prompt: bool = True,
        bos_token: str = "",
        eos_token: str = "",
    ) -> str:
        variables = hf_variables(messages, add_generation_prompt, bos_token, eos_token)
        return render_compiled(self._compiled, variables, self.origin)
