"""A model's vocabulary: every token's exact bytes and kind, read once at load.

llama-cpp-python's `detokenize` and `token_to_piece` use a fixed 32-byte buffer and return
long pieces EMPTY without an error (hundreds of tokens in the Llama 3, Qwen2 and Gemma
vocabularies), so pieces are read here with a larger buffer, retried on a negative length.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from playground.engine.types import TokenKind

# llama_token_attr bits (llama.h)
_ATTR_UNKNOWN = 1 << 0
_ATTR_UNUSED = 1 << 1
_ATTR_NORMAL = 1 << 2
_ATTR_CONTROL = 1 << 3
_ATTR_USER_DEFINED = 1 << 4
_ATTR_BYTE = 1 << 5

_KIND_CODES = (
    TokenKind.NORMAL,
    TokenKind.CONTROL,
    TokenKind.USER_DEFINED,
    TokenKind.BYTE,
    TokenKind.UNKNOWN,
    TokenKind.UNUSED,
)


def _kind_from_attr(attr: int) -> TokenKind:
    if attr & _ATTR_CONTROL:
        return TokenKind.CONTROL
    if attr & _ATTR_USER_DEFINED:
        return TokenKind.USER_DEFINED
    if attr & _ATTR_BYTE:
        return TokenKind.BYTE
    if attr & _ATTR_UNKNOWN:
        return TokenKind.UNKNOWN
    if attr & _ATTR_UNUSED:
        return TokenKind.UNUSED
    return TokenKind.NORMAL


@dataclass(frozen=True)
class Vocab:
    """Every token's bytes and kind, and the ids that end or begin a sequence."""

    pieces: tuple[bytes, ...]
    kind_codes: npt.NDArray[np.uint8]
    """Index into the kind table per id; use `kind(id)`."""
    eog: frozenset[int]
    """Every id llama.cpp treats as end of generation (EOS, EOT, <|im_end|>, ...)."""
    bos: int | None
    eos: int | None
    eot: int | None
    add_bos: bool
    """Whether the model expects a BOS at the start of every prompt."""

    @property
    def size(self) -> int:
        return len(self.pieces)

    def piece(self, token: int) -> bytes:
        return self.pieces[token]

    def kind(self, token: int) -> TokenKind:
        return _KIND_CODES[int(self.kind_codes[token])]

    def is_special(self, token: int) -> bool:
        return self.kind(token).is_special or token in self.eog

    def ids_of_piece(self, piece: bytes) -> list[int]:
        """Every id whose piece is exactly these bytes (pieces can repeat across kinds)."""
        index = self._index()
        return list(index.get(piece, ()))

    def _index(self) -> dict[bytes, tuple[int, ...]]:
        cached: dict[bytes, tuple[int, ...]] | None = self.__dict__.get("_piece_index")
        if cached is None:
            built: dict[bytes, list[int]] = {}
            for i, p in enumerate(self.pieces):
                built.setdefault(p, []).append(i)
            cached = {k: tuple(v) for k, v in built.items()}
            object.__setattr__(self, "_piece_index", cached)
        return cached


def _long_piece(llama_cpp: Any, vocab_ptr: Any, token: int, size: int) -> bytes:
    """A piece that did not fit the shared buffer: llama.cpp said it needs `size` bytes."""
    bigger = ctypes.create_string_buffer(size)
    n = llama_cpp.llama_token_to_piece(vocab_ptr, token, bigger, size, 0, True)
    return bytes(bigger.raw[:n])


def load_vocab(llama_cpp: Any, vocab_ptr: Any) -> Vocab:
    """Read the whole vocabulary through llama.cpp's C API (about 1 s at 262k tokens)."""
    n = int(llama_cpp.llama_vocab_n_tokens(vocab_ptr))
    buf = ctypes.create_string_buffer(256)
    to_piece = llama_cpp.llama_token_to_piece
    get_attr = llama_cpp.llama_vocab_get_attr
    is_eog = llama_cpp.llama_vocab_is_eog
    pieces: list[bytes] = []
    codes = np.zeros(n, dtype=np.uint8)
    eog: set[int] = set()
    code_of = {k: i for i, k in enumerate(_KIND_CODES)}
    for tok in range(n):
        m = to_piece(vocab_ptr, tok, buf, 256, 0, True)
        pieces.append(buf.raw[:m] if m >= 0 else _long_piece(llama_cpp, vocab_ptr, tok, -m))
        codes[tok] = code_of[_kind_from_attr(int(get_attr(vocab_ptr, tok)))]
        if is_eog(vocab_ptr, tok):
            eog.add(tok)

    def opt(value: int) -> int | None:
        return value if 0 <= value < n else None

    return Vocab(
        pieces=tuple(pieces),
        kind_codes=codes,
        eog=frozenset(eog),
        bos=opt(int(llama_cpp.llama_vocab_bos(vocab_ptr))),
        eos=opt(int(llama_cpp.llama_vocab_eos(vocab_ptr))),
        eot=opt(int(llama_cpp.llama_vocab_eot(vocab_ptr))),
        add_bos=bool(llama_cpp.llama_vocab_get_add_bos(vocab_ptr)),
    )


def vocab_from_pieces(
    pieces: Sequence[bytes],
    kinds: Mapping[int, TokenKind],
    *,
    eog: frozenset[int],
    bos: int | None,
    eos: int | None,
    eot: int | None,
    add_bos: bool,
) -> Vocab:
    """A Vocab from pieces read some other way than llama.cpp's C API (a server's).

    Args:
        kinds: the kind of each token that is not NORMAL.
    """
    code_of = {k: i for i, k in enumerate(_KIND_CODES)}
    codes = np.zeros(len(pieces), dtype=np.uint8)
    for tok, kind in kinds.items():
        codes[tok] = code_of[kind]
    return Vocab(
        pieces=tuple(pieces),
        kind_codes=codes,
        eog=eog,
        bos=bos,
        eos=eos,
        eot=eot,
        add_bos=add_bos,
    )
