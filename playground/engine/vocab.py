"""A model's vocabulary: every token's exact bytes and kind, read once at load.

Each backend builds one (`Vocab.from_kinds`): the in-process backend from llama.cpp's C API
(`playground.engine.llama.vocab_loader`), a server backend from the server's tokenizer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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


def kind_from_attr(attr: int) -> TokenKind:
    """The kind of a token from llama.cpp's llama_token_attr bits (llama-server reports them
    too)."""
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

    @classmethod
    def from_kinds(
        cls,
        pieces: Sequence[bytes],
        kinds: Sequence[TokenKind],
        *,
        eog: Iterable[int],
        bos: int | None,
        eos: int | None,
        eot: int | None,
        add_bos: bool,
    ) -> Vocab:
        """A vocabulary from each token's bytes and kind (the same length).

        Raises:
            ValueError: pieces and kinds differ in length, or a special id is out of range.
        """
        if len(pieces) != len(kinds):
            raise ValueError(f"{len(pieces)} pieces but {len(kinds)} kinds")
        n = len(pieces)
        for name, tok in (("bos", bos), ("eos", eos), ("eot", eot)):
            if tok is not None and not 0 <= tok < n:
                raise ValueError(f"{name} id {tok} is outside the vocabulary of {n} tokens")
        code_of = {k: i for i, k in enumerate(_KIND_CODES)}
        codes = np.fromiter((code_of[k] for k in kinds), dtype=np.uint8, count=n)
        return cls(tuple(pieces), codes, frozenset(eog), bos, eos, eot, add_bos)

    @property
    def size(self) -> int:
        return len(self.pieces)

    def piece(self, token: int) -> bytes:
        return self.pieces[token]

    def kind(self, token: int) -> TokenKind:
        return _KIND_CODES[int(self.kind_codes[token])]

    def is_special(self, token: int) -> bool:
        """A control or unknown token, or an end of generation. A user-defined token (Gemma's
        newlines) is text the tokenizer keeps whole."""
        return self.kind(token).is_special or token in self.eog

    def ids_of_kind(self, *kinds: TokenKind) -> list[int]:
        """Every id of these kinds, in id order."""
        codes = [_KIND_CODES.index(k) for k in kinds]
        return [int(i) for i in np.flatnonzero(np.isin(self.kind_codes, codes))]

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
