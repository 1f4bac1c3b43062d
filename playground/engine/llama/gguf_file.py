"""Cheap checks on a model file before llama.cpp sees it.

llama.cpp answers a missing, truncated or foreign file with one generic "Failed to load
model" error; checking the path and the magic bytes first lets the message say which.
"""

from __future__ import annotations

import os

from playground.engine.errors import ModelFileMissing, NotAGGUF

GGUF_MAGIC = b"GGUF"


def check_gguf(path: str | os.PathLike[str]) -> str:
    """Return the path as a string if it names a readable GGUF file.

    Raises:
        ModelFileMissing: nothing (or a directory) at that path.
        NotAGGUF: the file does not start with the GGUF magic bytes.
    """
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise ModelFileMissing(p)
    with open(p, "rb") as f:
        head = f.read(4)
    if head != GGUF_MAGIC:
        raise NotAGGUF(p, head)
    return p
