"""Read a model's whole vocabulary through llama.cpp's C API.

llama-cpp-python's `detokenize` and `token_to_piece` use a fixed 32-byte buffer and return
long pieces EMPTY without an error (hundreds of tokens in the Llama 3, Qwen2 and Gemma
vocabularies), so pieces are read here with a larger buffer, retried on a negative length.
"""

from __future__ import annotations

import ctypes
from typing import Any

from playground.engine.types import TokenKind
from playground.engine.vocab import Vocab, kind_from_attr


def _long_piece(llama_cpp: Any, vocab_ptr: Any, token: int, size: int) -> bytes:
    """A piece that did not fit the shared buffer: llama.cpp said it needs `size` bytes."""
    bigger = ctypes.create_string_buffer(size)
    n = llama_cpp.llama_token_to_piece(vocab_ptr, token, bigger, size, 0, True)
    return bytes(bigger.raw[:n])


def load_vocab(llama_cpp: Any, vocab_ptr: Any) -> Vocab:
    """Read the whole vocabulary (about 1 s at 262k tokens)."""
    n = int(llama_cpp.llama_vocab_n_tokens(vocab_ptr))
    buf = ctypes.create_string_buffer(256)
    to_piece = llama_cpp.llama_token_to_piece
    get_attr = llama_cpp.llama_vocab_get_attr
    is_eog = llama_cpp.llama_vocab_is_eog
    pieces: list[bytes] = []
    kinds: list[TokenKind] = []
    eog: set[int] = set()
    for tok in range(n):
        m = to_piece(vocab_ptr, tok, buf, 256, 0, True)
        pieces.append(buf.raw[:m] if m >= 0 else _long_piece(llama_cpp, vocab_ptr, tok, -m))
        kinds.append(kind_from_attr(int(get_attr(vocab_ptr, tok))))
        if is_eog(vocab_ptr, tok):
            eog.add(tok)

    def opt(value: int) -> int | None:
        return value if 0 <= value < n else None

    return Vocab.from_kinds(
        pieces,
        kinds,
        eog=eog,
        bos=opt(int(llama_cpp.llama_vocab_bos(vocab_ptr))),
        eos=opt(int(llama_cpp.llama_vocab_eos(vocab_ptr))),
        eot=opt(int(llama_cpp.llama_vocab_eot(vocab_ptr))),
        add_bos=bool(llama_cpp.llama_vocab_get_add_bos(vocab_ptr)),
    )
