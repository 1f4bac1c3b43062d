"""What the server backends share: scores from top-k lists, and token ids a stream left out.

A server sends each token's top-k, not its whole distribution, so a rank is exact only inside
the top-k it was asked for; beyond it the rank is a bound, shown as ">k". URIAL's shift
classes stay exact as long as k >= 3, since they only ask whether the rank is 1, 2-3, or
beyond.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

from playground.engine.settings import SamplerSettings
from playground.engine.types import ScoredToken, TokenKind, TopEntry
from playground.engine.vocab import Vocab

MIN_SCORE_K = 10
"""Scoring asks a server for at least this many alternatives per position, so ranks up to
10 are exact whatever top-k the caller wants back (the shift classes need 3)."""


def biases_by_id(
    s: SamplerSettings, ids_of_text: Callable[[str], Sequence[int]]
) -> dict[int, float]:
    """The settings' logit biases by token id, those given as text resolved with the
    backend's own `ids_of_text` (-inf bans; a later entry for an id wins)."""
    out = dict(s.logit_bias)
    for text, b in s.logit_bias_text:
        out.update(dict.fromkeys(ids_of_text(text), b))
    return out


def scored_token(
    target: int, logprob: float | None, top: Sequence[TopEntry], asked_k: int, keep: int
) -> ScoredToken:
    """A ScoredToken from the server's top list for one position.

    Args:
        target: the token that was scored.
        logprob: its exact log-probability when the server reported it, else None.
        top: the server's top list, most likely first (at most `asked_k` entries).
        asked_k: how many alternatives were asked for.
        keep: how many of them the caller wants in ScoredToken.top.

    When the target is outside the list, the rank is asked_k + 1 with rank_exact False, and
    a logprob the server did not report is the list's last logprob: an upper bound.
    """
    mine = next((e for e in top if e.id == target), None)
    if mine is not None:
        lp = mine.logprob if logprob is None else logprob
        rank = 1 + sum(1 for e in top if e.logprob > mine.logprob)
        return ScoredToken(target, lp, rank, tuple(top[:keep]), True)
    if logprob is None:
        logprob = top[-1].logprob if top else -math.inf
    if len(top) < asked_k and top:
        # The server returned every token with a nonzero probability: the target has none.
        return ScoredToken(target, logprob, len(top) + 1, tuple(top[:keep]), True)
    return ScoredToken(target, logprob, asked_k + 1, tuple(top[:keep]), False)


def incomplete_utf8_tail(data: bytes) -> bool:
    """Whether `data` ends inside a multi-byte UTF-8 character.

    The same test as llama-server's validate_utf8: look at the last 4 bytes for a lead byte
    whose character needs more bytes than follow it. A token that leaves the reply in this
    state is not sent on its own by llama-server's stream.
    """
    n = len(data)
    for i in range(1, min(4, n) + 1):
        c = data[n - i]
        if (c & 0xE0) == 0xC0 and i < 2:
            return True
        if (c & 0xF0) == 0xE0 and i < 3:
            return True
        if (c & 0xF8) == 0xF0 and i < 4:
            return True
    return False


def segmentations(data: bytes, count: int, vocab: Vocab, limit: int = 32) -> list[tuple[int, ...]]:
    """Every way (up to `limit`) to write `data` as exactly `count` non-special tokens.

    A stream that left out tokens tells how many and which bytes they carried, not their
    ids; the candidates here are then told apart by the model's own probabilities.
    """
    out: list[tuple[int, ...]] = []

    def walk(pos: int, left: int, acc: tuple[int, ...]) -> None:
        if len(out) >= limit:
            return
        if left == 0:
            if pos == len(data):
                out.append(acc)
            return
        # each remaining token carries at least one byte
        for end in range(pos + 1, len(data) - left + 2):
            for tok in vocab.ids_of_piece(data[pos:end]):
                if not vocab.is_special(tok):
                    walk(end, left - 1, (*acc, tok))

    walk(0, count, ())
    return out


def best_candidate(
    candidates: Iterable[tuple[int, ...]], position: int, top: Sequence[TopEntry]
) -> list[tuple[int, ...]]:
    """The candidates whose token at `position` the model likes best (by the top list)."""
    cands = list(candidates)
    rank_of = {e.id: i for i, e in enumerate(top)}
    best = min((rank_of.get(c[position], len(top)) for c in cands), default=0)
    return [c for c in cands if rank_of.get(c[position], len(top)) == best]


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
    """A Vocab from a server's pieces; `kinds` holds every token that is not NORMAL."""
    return Vocab.from_kinds(
        pieces,
        [kinds.get(i, TokenKind.NORMAL) for i in range(len(pieces))],
        eog=eog,
        bos=bos,
        eos=eos,
        eot=eot,
        add_bos=add_bos,
    )
