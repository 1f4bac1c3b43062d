"""Bytes to text, token by token.

Token pieces are bytes, not text: byte-level BPE splits an emoji over several tokens, and
SentencePiece byte-fallback tokens are single raw bytes. The reply is decoded with an
incremental UTF-8 decoder so a split character appears once, when it is complete.
"""

from __future__ import annotations

import codecs


def hex_escape(piece: bytes) -> str:
    """Decode a piece for display, writing each byte that is not valid UTF-8 as `<0xNN>`."""
    text = piece.decode("utf-8", errors="surrogateescape")
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return "".join(
        f"<0x{ord(ch) - 0xDC00:02X}>" if "\udc80" <= ch <= "\udcff" else ch for ch in text
    )


class IncrementalText:
    """Accumulates the reply text from token pieces.

    `push` returns the text a piece completes: possibly empty while a multi-byte character
    is still open. Bytes that can never form a character become U+FFFD, as in any UTF-8
    decoder; a valid byte stream never leaves one behind.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._parts: list[str] = []

    def push(self, piece: bytes) -> str:
        out = self._decoder.decode(piece)
        if out:
            self._parts.append(out)
        return out

    def flush(self) -> str:
        """End of stream: a dangling partial character becomes U+FFFD."""
        out = self._decoder.decode(b"", final=True)
        if out:
            self._parts.append(out)
        return out

    @property
    def pending(self) -> bool:
        """True while a multi-byte character is incomplete."""
        return bool(self._decoder.getstate()[0])

    @property
    def text(self) -> str:
        return "".join(self._parts)
