"""Load a GGUF whose own chat template does not compile.

`llama_cpp.Llama()` compiles every chat template in the GGUF's metadata while it loads the
model (llama-cpp-python 0.3.x, `Llama.__init__` builds a `Jinja2ChatFormatter` per
template), so one Jinja syntax error in a template makes the whole model unloadable, even
for a caller that never uses llama-cpp-python's chat API. Playground renders templates in
its own sandbox (playground.templates) and reports a broken one there with its line; the
engine only needs the weights and the vocabulary. So the formatter class is replaced, once
per process, by a subclass that keeps a compile error instead of raising it, and raises it
only if llama-cpp-python's own chat API is ever asked to use that template.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()


def tolerate_broken_templates() -> None:
    """Make `Llama()` load a model whose GGUF chat template fails to compile (idempotent)."""
    from llama_cpp import llama_chat_format

    with _lock:
        original: Any = llama_chat_format.Jinja2ChatFormatter
        if getattr(original, "playground_tolerant", False):
            return

        class TolerantJinja2ChatFormatter(original):
            playground_tolerant = True

            def __init__(self, template: str, *args: Any, **kwargs: Any) -> None:
                self.compile_error: Exception | None = None
                try:
                    super().__init__(template, *args, **kwargs)
                except Exception as exc:  # any failure of a file's template: keep it
                    self.template = template
                    self.compile_error = exc

            def __call__(self, **kwargs: Any) -> Any:
                if self.compile_error is not None:
                    raise ValueError(
                        f"the GGUF's chat template does not compile: {self.compile_error}"
                    ) from self.compile_error
                return super().__call__(**kwargs)

        llama_chat_format.Jinja2ChatFormatter = TolerantJinja2ChatFormatter  # type: ignore[misc]
