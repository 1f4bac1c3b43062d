"""Aligning two tokenizations of the same reply text by byte offsets.

When the base and the aligned model have different vocabularies (the demo pair: Gemma's 262k
against SmolLM2's 49k), a token of one has no id in the other. URIAL's code matched decoded
strings inside a top-k list; here the reply text is re-tokenized by the scoring model and
each producer token is paired with the scoring token that starts at the same byte offset.
Where the two tokenizations disagree (a different split, a multi-byte character cut
elsewhere) the pairing is approximate, and says so.

Pure functions over byte spans, so they are tested on hand-made cases without a model.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """Where one token's bytes lie in the reply: [start, end).

    Special tokens (the end of turn) carry no text: they are zero-length spans with
    `special=True`, placed at the offset where they occur.
    """

    start: int
    end: int
    special: bool = False


@dataclass(frozen=True, slots=True)
class Match:
    """The scoring token paired with one producer token."""

    index: int
    """Index into the scoring model's tokens."""
    exact: bool
    """True when the scoring token covers exactly the same bytes (or the same special slot)."""


def spans_of(pieces: Sequence[bytes], special: Sequence[bool] | None = None) -> list[Span]:
    """Consecutive spans of pieces laid end to end; special pieces take no bytes."""
    out: list[Span] = []
    pos = 0
    for i, piece in enumerate(pieces):
        if special is not None and special[i]:
            out.append(Span(pos, pos, True))
            continue
        out.append(Span(pos, pos + len(piece)))
        pos += len(piece)
    return out


def align_spans(producer: Sequence[Span], scorer: Sequence[Span]) -> list[Match]:
    """Pair each producer span with a scoring span.

    Rules, in order:
    - a special producer span pairs with the next unused special scoring span at the same
      offset (exact); with none there, with the scoring token covering that offset;
    - a text span pairs with the scoring token that starts at the same offset: exact when
      it also ends at the same offset, approximate when the split differs;
    - with no scoring token starting there, with the scoring token that covers the offset
      (approximate).

    Raises:
        ValueError: `scorer` is empty while `producer` is not.
    """
    if producer and not scorer:
        raise ValueError("no scoring tokens to align with")
    text_starts: list[int] = []
    text_index: list[int] = []
    start_of: dict[int, int] = {}
    specials_at: dict[int, list[int]] = {}
    for j, s in enumerate(scorer):
        if s.special:
            specials_at.setdefault(s.start, []).append(j)
            continue
        if s.end > s.start:
            start_of.setdefault(s.start, j)
            text_starts.append(s.start)
            text_index.append(j)
    used: dict[int, int] = {}

    def covering(offset: int) -> int:
        k = bisect.bisect_right(text_starts, offset) - 1
        if k < 0:
            return text_index[0] if text_index else 0
        return text_index[k]

    out: list[Match] = []
    for p in producer:
        if p.special:
            slots = specials_at.get(p.start, [])
            n = used.get(p.start, 0)
            if n < len(slots):
                used[p.start] = n + 1
                out.append(Match(slots[n], True))
            else:
                out.append(Match(covering(p.start), False))
            continue
        same_start = start_of.get(p.start)
        if same_start is not None:
            out.append(Match(same_start, scorer[same_start].end == p.end))
        else:
            out.append(Match(covering(p.start), False))
    return out
