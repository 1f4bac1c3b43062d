"""The in-process backend: llama.cpp through llama-cpp-python, with its own sampler chain.

Everything that touches llama.cpp lives here (ctypes, the vocabulary pointer, the sampler
objects, the log callback); the rest of the playground holds a `playground.engine.backend.
Backend` and never imports this package, except the factory in `playground.config.registry`.
"""

from __future__ import annotations

from playground.engine.llama.model import LlamaModel, LoadOptions, default_threads

__all__ = ["LlamaModel", "LoadOptions", "default_threads"]
