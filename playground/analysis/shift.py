"""Classify each token of a reply by how the other model ranks it, and summarise.

URIAL (Lin et al. 2023) gives the base model the query and the aligned model's reply so far,
and asks where the aligned model's next token ranks in the base model's distribution:
rank 1 is unshifted, 2-3 marginal, 4 or worse shifted. Here the rank is over the full
vocabulary by token id (their code ranked inside a top-k list by decoded string), and the
reply is scored in one batched, teacher-forced pass (`Backend.score`), never one forward
pass per position as their analysis code does.

Where each number comes from:
- the scoring model's log-probability, rank and top-k: its teacher-forced pass;
- the producing model's own log-probability and top-k: the `TokenEvent`s of the stream that
  produced the reply when they are given (free, and exactly what it saw while generating),
  else a teacher-forced pass of the reply under the producer itself;
- KL(producer || scorer) at each position, only for a shared vocabulary: the producer's
  distribution is kept as its top-N log-probabilities plus one "rest" bucket (exact when the
  vocabulary has at most EXACT_KL_MAX_VOCAB tokens, where N is the whole vocabulary). The KL
  of those coarsened distributions is a lower bound of the exact KL (the log-sum
  inequality), tight when the top-N hold nearly all the producer's mass. Keeping full rows
  instead would cost 256 x 262k x 4 bytes = 268 MB for a 256-token reply at Gemma's
  vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

import numpy as np

from playground.analysis.align import Span, align_spans, spans_of
from playground.engine.backend import Backend
from playground.engine.topk import FloatArray, top_k_ids
from playground.engine.types import ScoredToken, TokenEvent, TopEntry
from playground.engine.vocab import Vocab

EXACT_KL_MAX_VOCAB = 4096
"""At or below this vocabulary size the producer's full rows are kept: KL is exact
(256 positions x 4096 x 16 bytes = 16 MB)."""
KL_TOP_N = 256
"""Above it, the producer's top-N log-probabilities plus a rest bucket (a lower bound)."""
MOST_SHIFTED = 10
DECILES = 10

VocabMode = Literal["shared", "aligned-by-text"]


class ShiftClass(StrEnum):
    """URIAL's three classes of a token by the other model's rank of it."""

    UNSHIFTED = "unshifted"
    """Rank 1: the other model's top choice too."""
    MARGINAL = "marginal"
    """Rank 2 or 3."""
    SHIFTED = "shifted"
    """Rank 4 or worse."""


def classify(rank: int) -> ShiftClass:
    """URIAL's class of a 1-based rank.

    Raises:
        ValueError: rank < 1.
    """
    if rank < 1:
        raise ValueError(f"ranks start at 1, got {rank}")
    if rank == 1:
        return ShiftClass.UNSHIFTED
    if rank <= 3:
        return ShiftClass.MARGINAL
    return ShiftClass.SHIFTED


@dataclass(frozen=True, slots=True)
class TokenShift:
    """One token of the analysed reply, seen by both models."""

    index: int
    """Position in the producer's reply, from 0."""
    id: int
    """The producer's token id."""
    piece: bytes
    offset: int
    """Byte offset of the token in the reply text (special tokens take no bytes)."""
    special: bool
    producer_logprob: float
    producer_top: tuple[TopEntry, ...]
    other_index: int
    """Position of the paired token in the scoring model's continuation (`scorer_ids`)."""
    other_id: int
    """The scoring model's token paired with this one (the same id for a shared vocabulary)."""
    other_piece: bytes
    other_logprob: float
    other_rank: int
    """The scoring model's rank of `other_id` over its full vocabulary, from 1."""
    other_top: tuple[TopEntry, ...]
    shift: ShiftClass
    kl: float | None
    """KL(producer || scorer) of the next-token distributions here; None across vocabularies."""
    approximate: bool
    """The two tokenizations disagree here: rank and probability are of `other_piece`."""
    other_rank_exact: bool = True
    """False when the scoring backend only returns its top-k (no full-vocabulary ranks) and
    the token fell outside it: `other_rank` is then k + 1, a lower bound (shown ">k"). The
    class stays exact as long as k >= 3."""

    @property
    def other_rank_text(self) -> str:
        """The rank as shown: "12", or ">20" when only a bound is known."""
        return str(self.other_rank) if self.other_rank_exact else f">{self.other_rank - 1}"


@dataclass(frozen=True)
class ShiftSummary:
    """Counts per class, the worst tokens, and where in the reply the shifts fall."""

    total: int
    unshifted: int
    marginal: int
    shifted: int
    most_shifted: tuple[int, ...]
    """Indices of the most-shifted tokens, worst rank first."""
    by_decile: tuple[tuple[int, int, int], ...]
    """(unshifted, marginal, shifted) counts per tenth of the reply, in order."""
    approximate: int = 0
    mean_kl: float | None = None

    def ratio(self, cls: ShiftClass) -> float:
        count = {
            ShiftClass.UNSHIFTED: self.unshifted,
            ShiftClass.MARGINAL: self.marginal,
            ShiftClass.SHIFTED: self.shifted,
        }[cls]
        return count / self.total if self.total else 0.0

    @property
    def shifted_ratio(self) -> float:
        return self.ratio(ShiftClass.SHIFTED)


def summarize(tokens: Sequence[TokenShift], most: int = MOST_SHIFTED) -> ShiftSummary:
    """Counts, ratios, the `most` worst-ranked shifted tokens, and a histogram by decile."""
    n = len(tokens)
    counts = dict.fromkeys(ShiftClass, 0)
    deciles = [[0, 0, 0] for _ in range(DECILES)]
    order = list(ShiftClass)
    for t in tokens:
        counts[t.shift] += 1
        d = min(DECILES - 1, t.index * DECILES // n) if n else 0
        deciles[d][order.index(t.shift)] += 1
    shifted = [t for t in tokens if t.shift is ShiftClass.SHIFTED]
    shifted.sort(key=lambda t: (-t.other_rank, t.other_logprob, t.index))
    kls = [t.kl for t in tokens if t.kl is not None]
    return ShiftSummary(
        total=n,
        unshifted=counts[ShiftClass.UNSHIFTED],
        marginal=counts[ShiftClass.MARGINAL],
        shifted=counts[ShiftClass.SHIFTED],
        most_shifted=tuple(t.index for t in shifted[:most]),
        by_decile=tuple((a, b, c) for a, b, c in deciles),
        approximate=sum(1 for t in tokens if t.approximate),
        mean_kl=sum(kls) / len(kls) if kls else None,
    )


@dataclass(frozen=True)
class ShiftAnalysis:
    """A reply one model produced, scored under the other."""

    tokens: tuple[TokenShift, ...]
    summary: ShiftSummary
    vocab: VocabMode
    kl_method: str | None
    """'exact', 'top-256+rest (lower bound)', or None across vocabularies."""
    kl_unavailable: str | None = None
    """Why no KL was computed for a shared vocabulary: a backend that cannot hand over its
    full next-token distributions (Capabilities.logit_rows)."""
    scorer_ids: tuple[int, ...] = field(default=())
    """The continuation the scoring model was fed (its own tokenization across vocabularies)."""


def shared_vocab(a: Vocab, b: Vocab) -> bool:
    """Same ids for the same pieces: the pair can be compared id by id, exactly."""
    return a.size == b.size and a.pieces == b.pieces


# ---------------------------------------------------------------------------- KL


class _ProducerRows:
    """The producer's next-token distribution per position, in bounded memory."""

    def __init__(self, n_positions: int, n_vocab: int) -> None:
        self.exact = n_vocab <= EXACT_KL_MAX_VOCAB
        n = n_vocab if self.exact else min(KL_TOP_N, n_vocab)
        self.ids = np.zeros((n_positions, n), dtype=np.int64)
        self.logprobs = np.zeros((n_positions, n), dtype=np.float64)
        self.all_ids = np.arange(n, dtype=np.int64)

    def hook(self, index: int, logits: FloatArray, lse: float) -> None:
        ids = self.all_ids if self.exact else top_k_ids(logits, self.ids.shape[1])
        self.ids[index] = ids
        self.logprobs[index] = logits[ids].astype(np.float64) - lse

    def kl(self, index: int, logits: FloatArray, lse: float) -> float:
        """KL(producer || scorer), coarsened to the kept ids plus one rest bucket."""
        ids = self.ids[index]
        lp = self.logprobs[index]
        lq = logits[ids].astype(np.float64) - lse
        p = np.exp(lp)
        kl = float(np.sum(p * (lp - lq)))
        if not self.exact:
            rest_p = max(0.0, 1.0 - float(p.sum()))
            rest_q = max(1e-300, 1.0 - float(np.exp(lq).sum()))
            if rest_p > 0.0:
                kl += rest_p * math.log(rest_p / rest_q)
        return max(0.0, kl)


# ---------------------------------------------------------------------------- alignment


def end_of_turn(vocab: Vocab) -> int | None:
    """The model's own end-of-turn token: EOT if it has one, else EOS, else any EOG."""
    for tok in (vocab.eot, vocab.eos):
        if tok is not None:
            return tok
    return min(vocab.eog) if vocab.eog else None


def _special_target(tok: int, producer: Vocab, scorer: Vocab) -> tuple[int, bool] | None:
    """The scoring model's token for a special producer token, and whether it is the same."""
    same = [i for i in scorer.ids_of_piece(producer.pieces[tok]) if scorer.is_special(i)]
    if same:
        return same[0], True
    if tok in producer.eog:
        eot = end_of_turn(scorer)
        if eot is not None:
            return eot, False
    return None


@dataclass(frozen=True)
class _CrossPlan:
    scorer_ids: list[int]
    producer_spans: list[Span]
    scorer_spans: list[Span]
    mapped_special: dict[int, bool]
    """Producer index of a special token -> whether its scoring counterpart is the same piece."""


def _plan_cross_vocab(reply: Sequence[int], producer: Backend, scorer: Backend) -> _CrossPlan:
    """Re-tokenize the reply text with the scorer, special tokens mapped between the texts."""
    pv, sv = producer.vocab, scorer.vocab
    scorer_ids: list[int] = []
    scorer_spans: list[Span] = []
    producer_spans: list[Span] = []
    mapped: dict[int, bool] = {}
    pending = bytearray()
    seg_start = 0
    offset = 0

    def flush() -> None:
        nonlocal seg_start
        if not pending:
            return
        ids = scorer.tokenize(bytes(pending), special=False, add_bos=False)
        got = scorer.detokenize(ids)
        if got != bytes(pending):
            raise ValueError(
                f"{scorer.info.name} does not re-tokenize the reply to the same bytes "
                f"({got[:40]!r} vs {bytes(pending)[:40]!r}); cannot align by text"
            )
        pos = seg_start
        for i in ids:
            n = len(sv.pieces[i])
            scorer_spans.append(Span(pos, pos + n))
            pos += n
        scorer_ids.extend(ids)
        pending.clear()
        seg_start = pos

    for k, tok in enumerate(reply):
        if pv.is_special(tok):
            target = _special_target(tok, pv, sv)
            if target is not None:
                flush()
                producer_spans.append(Span(offset, offset, True))
                scorer_spans.append(Span(offset, offset, True))
                scorer_ids.append(target[0])
                mapped[k] = target[1]
                continue
        piece = pv.pieces[tok]
        producer_spans.append(Span(offset, offset + len(piece)))
        pending += piece
        offset += len(piece)
    flush()
    return _CrossPlan(scorer_ids, producer_spans, scorer_spans, mapped)


# ---------------------------------------------------------------------------- analysis


def analyse_reply(
    producer: Backend,
    scorer: Backend,
    *,
    producer_context: Sequence[int],
    scorer_context: Sequence[int],
    reply: Sequence[int],
    events: Sequence[TokenEvent] | None = None,
    top_k: int = 5,
    with_kl: bool = True,
) -> ShiftAnalysis:
    """Score `reply` (the producer's token ids) under `scorer` and classify every token.

    Args:
        producer_context: the prompt ids the producer generated the reply from.
        scorer_context: the prompt ids the scoring model sees instead (its own wrapping).
        events: the producer's stream events for `reply`; their log-probabilities and top-k
            are used as the producer's. Without them the reply is scored under the
            producer too.
        with_kl: compute the per-position KL (shared vocabulary only; costs one more
            teacher-forced pass, of the producer).

    Returns:
        The per-token rows and their summary.

    Raises:
        ValueError: `events` does not match `reply`, or the scorer cannot re-tokenize the
            reply text to the same bytes.
    """
    reply = list(reply)
    if events is not None and [e.id for e in events] != reply:
        raise ValueError("events do not match the reply ids")
    shared = shared_vocab(producer.vocab, scorer.vocab)
    kl_unavailable = None
    if shared and with_kl:
        for model in (producer, scorer):
            why_not = model.capabilities.why_not("logit_rows")
            if why_not is not None:
                kl_unavailable = f"{model.info.name}: {why_not}"
                with_kl = False
                break
    rows: _ProducerRows | None = None
    own: list[ScoredToken] | None = None
    if shared and with_kl and reply:
        rows = _ProducerRows(len(reply), producer.vocab.size)
        own = producer.score(producer_context, reply, top_k=top_k, row_hook=rows.hook)
    elif events is None and reply:
        own = producer.score(producer_context, reply, top_k=top_k)

    if shared:
        scorer_ids = reply
        spans = spans_for(reply, producer.vocab)
        matches = [(i, True) for i in range(len(reply))]
    else:
        plan = _plan_cross_vocab(reply, producer, scorer)
        scorer_ids = plan.scorer_ids
        spans = plan.producer_spans
        matches = [
            (m.index, m.exact and plan.mapped_special.get(k, True))
            for k, m in enumerate(align_spans(plan.producer_spans, plan.scorer_spans))
        ]

    kls: dict[int, float] = {}
    hook = None
    if rows is not None:
        kept = rows

        def hook(index: int, logits: FloatArray, lse: float) -> None:
            kls[index] = kept.kl(index, logits, lse)

    scored = scorer.score(scorer_context, scorer_ids, top_k=top_k, row_hook=hook) if reply else []

    pv, sv = producer.vocab, scorer.vocab
    tokens: list[TokenShift] = []
    for k, tok in enumerate(reply):
        j, exact = matches[k]
        s = scored[j]
        if events is not None:
            p_lp, p_top = events[k].logprob, events[k].top
        else:
            assert own is not None
            p_lp, p_top = own[k].logprob, own[k].top
        tokens.append(
            TokenShift(
                index=k,
                id=tok,
                piece=pv.pieces[tok],
                offset=spans[k].start,
                special=pv.is_special(tok),
                producer_logprob=p_lp,
                producer_top=p_top,
                other_index=j,
                other_id=s.id,
                other_piece=sv.pieces[s.id],
                other_logprob=s.logprob,
                other_rank=s.rank,
                other_top=s.top,
                shift=classify(s.rank),
                kl=kls.get(k) if shared else None,
                approximate=not exact,
                other_rank_exact=s.rank_exact,
            )
        )
    kl_method = None
    if shared and rows is not None:
        kl_method = "exact" if rows.exact else f"top-{KL_TOP_N}+rest (lower bound)"
    return ShiftAnalysis(
        tokens=tuple(tokens),
        summary=summarize(tokens),
        vocab="shared" if shared else "aligned-by-text",
        kl_method=kl_method,
        kl_unavailable=kl_unavailable,
        scorer_ids=tuple(scorer_ids),
    )


def spans_for(ids: Sequence[int], vocab: Vocab) -> list[Span]:
    """Byte spans of a token sequence; special tokens take no bytes."""
    return spans_of([vocab.pieces[i] for i in ids], [vocab.is_special(i) for i in ids])
