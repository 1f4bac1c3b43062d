"""How a rendered prompt becomes tokens, shown so that nothing is hidden.

The lesson: a conversation reaches the model as one flat sequence of tokens, and special
tokens such as `<|im_start|>` carry its structure. The same text is tokenized two ways:
special-token text parsed as the special token (what a chat template's output gets), and
as plain text (what happens when a user types `<|im_start|>`: it splits into pieces).

Tokenizers share one small interface so the model's own (through llama.cpp) and tiktoken's
encodings are shown alike. Warnings point out the classic mistakes: a template token the
vocabulary lacks, a double BOS, a missing BOS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from playground.engine.types import TokenKind
from playground.engine.utf8 import hex_escape
from playground.templates.base import Template

if TYPE_CHECKING:
    from playground.engine.backend import Backend

# Whitespace gets a mark; every other control character is shown as its byte, <0xNN>.
_VISIBLE = str.maketrans(
    {
        **{chr(c): f"<0x{c:02X}>" for c in (*range(0x20), 0x7F)},
        " ": "·",
        "\n": "↵",
        "\t": "→",
        "\r": "␍",
    }
)


def visible_piece(piece: bytes, *, byte_token: bool = False) -> str:
    """A piece with whitespace marked (· ↵ → ␍); control characters and bytes that are not
    UTF-8 as <0xNN>.

    Args:
        byte_token: a SentencePiece byte-fallback token: always shown as <0xNN>.
    """
    if byte_token:
        return "".join(f"<0x{b:02X}>" for b in piece)
    return hex_escape(piece).translate(_VISIBLE)


class Tokenizer(Protocol):
    """What the token view needs from a tokenizer."""

    name: str
    """Shown to the user: a model's name or an encoding's ("o200k_base")."""
    bos_text: str
    """The BOS token's text ('' when there is none), passed to templates as bos_token."""
    eos_text: str
    bos_id: int | None
    add_bos: bool
    """Whether the model expects a BOS at the start of every prompt."""

    def encode(self, text: str, *, special: bool, add_bos: bool) -> list[int]: ...

    def piece(self, token: int) -> bytes: ...

    def is_special(self, token: int) -> bool: ...

    def is_byte(self, token: int) -> bool: ...

    def special_id(self, text: str) -> int | None:
        """The id if `text` is exactly one special token of this vocabulary, else None."""
        ...


class LlamaTokenizer:
    """A GGUF model's own tokenizer, through llama.cpp."""

    def __init__(self, model: Backend) -> None:
        self.model = model
        vocab = model.vocab
        self.name = model.info.name
        self.bos_id = vocab.bos
        self.add_bos = vocab.add_bos
        self.bos_text = _text(vocab.pieces[vocab.bos]) if vocab.bos is not None else ""
        self.eos_text = _text(vocab.pieces[vocab.eos]) if vocab.eos is not None else ""

    def encode(self, text: str, *, special: bool, add_bos: bool) -> list[int]:
        return self.model.tokenize(text, special=special, add_bos=add_bos)

    def piece(self, token: int) -> bytes:
        return self.model.vocab.pieces[token]

    def is_special(self, token: int) -> bool:
        # Control tokens are what special parsing turns on and off. User-defined tokens
        # (Gemma's "\n\n", for one) are always matched whole, but they are text.
        vocab = self.model.vocab
        return vocab.kind(token) in (TokenKind.CONTROL, TokenKind.UNKNOWN) or token in vocab.eog

    def is_byte(self, token: int) -> bool:
        return self.model.vocab.kind(token) is TokenKind.BYTE

    def special_id(self, text: str) -> int | None:
        ids = self.model.tokenize(text, special=True, add_bos=False)
        if len(ids) == 1 and self.is_special(ids[0]):
            return ids[0]
        return None


class TiktokenTokenizer:
    """A tiktoken encoding (with the chat tokens added, see tiktoken_offline)."""

    def __init__(self, encoding: Any, name: str | None = None) -> None:
        self.bos_text = ""
        self.bos_id: int | None = None
        self.add_bos = False
        self.encoding = encoding
        self.name = name or str(encoding.name)
        self._specials: dict[str, int] = dict(encoding._special_tokens)
        self._special_ids = frozenset(self._specials.values())
        self.eos_text = "<|endoftext|>" if "<|endoftext|>" in self._specials else ""

    def encode(self, text: str, *, special: bool, add_bos: bool) -> list[int]:
        if special:
            return list(self.encoding.encode(text, allowed_special="all"))
        return list(self.encoding.encode_ordinary(text))

    def piece(self, token: int) -> bytes:
        return bytes(self.encoding.decode_single_token_bytes(token))

    def is_special(self, token: int) -> bool:
        return token in self._special_ids

    def is_byte(self, token: int) -> bool:
        return False

    def special_id(self, text: str) -> int | None:
        return self._specials.get(text)


def tiktoken_tokenizer(name: str) -> TiktokenTokenizer:
    """`o200k_base` or `cl100k_base`, offline, with the chat tokens; named as the user typed."""
    from playground.templates.tiktoken_offline import chat_encoding

    return TiktokenTokenizer(chat_encoding(name), name)


def _text(piece: bytes) -> str:
    return piece.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class TokenRow:
    """One token of the view."""

    id: int
    piece: bytes
    """Exact bytes."""
    shown: str
    """The piece with whitespace marked and non-UTF-8 bytes as <0xNN>."""
    special: bool

    @property
    def text(self) -> str:
        """The piece as text (bytes that are not UTF-8 as <0xNN>), whitespace unmarked."""
        return hex_escape(self.piece)


@dataclass(frozen=True)
class TokenView:
    """A text tokenized one way, with what went wrong."""

    text: str
    tokenizer: str
    special_parsed: bool
    """True: special-token text became special tokens. False: it stayed plain text."""
    add_bos: bool
    tokens: tuple[TokenRow, ...]
    warnings: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.tokens)

    @property
    def ids(self) -> list[int]:
        return [t.id for t in self.tokens]


def _rows(tokenizer: Tokenizer, ids: Sequence[int]) -> tuple[TokenRow, ...]:
    rows = []
    for i in ids:
        piece = tokenizer.piece(i)
        special = tokenizer.is_special(i)
        shown = visible_piece(piece, byte_token=tokenizer.is_byte(i))
        rows.append(TokenRow(i, piece, shown, special))
    return tuple(rows)


def missing_special_tokens(
    text: str, tokenizer: Tokenizer, template: Template | None
) -> list[tuple[str, int]]:
    """Template special tokens in `text` that the vocabulary lacks, with their plain count."""
    if template is None:
        return []
    missing = []
    for tok in template.special_tokens:
        if tok in text and tokenizer.special_id(tok) is None:
            missing.append((tok, len(tokenizer.encode(tok, special=False, add_bos=False))))
    return missing


def token_warnings(
    text: str,
    ids: Sequence[int],
    tokenizer: Tokenizer,
    template: Template | None,
) -> list[str]:
    """Warnings a user should see about this prompt's tokens."""
    warnings = []
    template_name = template.name if template is not None else "the text"
    for tok, n in missing_special_tokens(text, tokenizer, template):
        warnings.append(
            f"{template_name} uses {tok}, which is not a special token in {tokenizer.name}'s "
            f"vocabulary: it tokenizes as {n} plain-text pieces, so the model never sees the "
            "turn structure it was trained on. Pick a template made for this model."
        )
    bos = tokenizer.bos_id
    if bos is not None and len(ids) >= 2 and ids[0] == bos and ids[1] == bos:
        warnings.append(
            f"Double BOS: the text already starts with {tokenizer.bos_text} and the tokenizer "
            "adds another, so the prompt begins with two. Drop {{ bos_token }} from the "
            "template, or tokenize without adding BOS."
        )
    elif bos is not None and tokenizer.add_bos and (not ids or ids[0] != bos):
        warnings.append(
            f"Missing BOS: {tokenizer.name} expects every prompt to start with "
            f"{tokenizer.bos_text} (its vocabulary sets add_bos), but this one does not. "
            "Let the tokenizer add it, or start the template with {{ bos_token }}."
        )
    return warnings


def inspect_tokens(
    text: str,
    tokenizer: Tokenizer,
    *,
    template: Template | None = None,
    special: bool = True,
    add_bos: bool | None = None,
) -> TokenView:
    """Tokenize `text` and list every token, with warnings.

    Args:
        template: the template that rendered `text`, to check its special tokens.
        special: parse special-token text as special tokens (False: as plain text).
        add_bos: prepend BOS; None means what the model does by default (its add_bos).
    """
    bos = tokenizer.add_bos if add_bos is None else add_bos
    ids = tokenizer.encode(text, special=special, add_bos=bos)
    return TokenView(
        text=text,
        tokenizer=tokenizer.name,
        special_parsed=special,
        add_bos=bos,
        tokens=_rows(tokenizer, ids),
        warnings=tuple(token_warnings(text, ids, tokenizer, template)),
    )


def both_ways(
    text: str, tokenizer: Tokenizer, template: Template | None = None
) -> tuple[TokenView, TokenView]:
    """The text with special tokens parsed as specials, and as plain text."""
    return (
        inspect_tokens(text, tokenizer, template=template, special=True),
        inspect_tokens(text, tokenizer, template=template, special=False),
    )


def encode_prompt(tokenizer: Tokenizer, text: str) -> list[int]:
    """Prompt ids as generation should use them: BOS added when the model expects one,
    but never a second one when the template already wrote it."""
    ids = tokenizer.encode(text, special=True, add_bos=False)
    bos = tokenizer.bos_id
    if tokenizer.add_bos and bos is not None and (not ids or ids[0] != bos):
        ids.insert(0, bos)
    return ids
