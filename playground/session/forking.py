"""Force a token and go on from it: the step behind fork and swap.

A fork at token k keeps the reply's first k tokens, puts the chosen token(s) at k, and lets
the model continue from there. Built on the two calls the backend contract has: `score` gives the
model's own view of the forced position (its probability *before* forcing and its top-k,
what the inspector shows), and `stream` continues from the prompt plus the branch so far,
reusing the KV cache of the shared prefix. The continuation's events are renumbered to
their place in the branch and its text is decoded with the branch's bytes before it, so a
character split across the fork point still comes out whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from playground.engine.backend import Backend
from playground.engine.types import Finished, StopReason, StreamItem, TokenEvent
from playground.engine.utf8 import IncrementalText
from playground.engine.vocab import Vocab


@dataclass(frozen=True, slots=True)
class Handover:
    """The tokens a swap gives this model for the other model's token, and what to say."""

    ids: tuple[int, ...]
    note: str = ""


def same_vocabulary(a: Vocab, b: Vocab) -> bool:
    """Whether token ids mean the same bytes in both models (then a swap hands the id)."""
    return a is b or (a.size == b.size and a.pieces == b.pieces)


def handover(mine: Backend, other_vocab: Vocab, event: TokenEvent) -> Handover:
    """The other model's reply token `event` in this model's tokens (see handover_piece)."""
    return handover_piece(mine, other_vocab, event.id, event.piece)


def handover_piece(mine: Backend, other_vocab: Vocab, token: int, piece: bytes) -> Handover:
    """The other model's token (`token`, whose bytes are `piece`) in this model's tokens.

    Same vocabulary: the same id. Different vocabularies: the token's text, re-tokenized by
    this model, and a note that says so (it may be several tokens, or none for a special
    token that has no text).
    """
    if same_vocabulary(mine.vocab, other_vocab):
        return Handover((token,))
    ids = tuple(mine.tokenize(piece, special=False, add_bos=False))
    shown = piece.decode("utf-8", "replace")
    return Handover(
        ids,
        f"the other model's token {shown!r} re-tokenized for this vocabulary "
        f"as {len(ids)} token{'s' if len(ids) != 1 else ''}",
    )


def branch_text(events: Sequence[TokenEvent]) -> IncrementalText:
    """A decoder that has seen the branch's bytes so far."""
    text = IncrementalText()
    for ev in events:
        if not ev.is_eog:
            text.push(ev.piece)
    return text


def forced_events(
    model: Backend,
    context: Sequence[int],
    forced: Sequence[int],
    start: int,
    text: IncrementalText,
    top_k: int = 5,
) -> list[TokenEvent]:
    """The forced tokens as reply events: the model's log-probability and top-k for each
    (what it would have given the token), `prob_after` 1 since nothing else could come."""
    vocab = model.vocab
    scored = model.score(list(context), list(forced), top_k=top_k)
    out: list[TokenEvent] = []
    for n, s in enumerate(scored):
        is_eog = s.id in vocab.eog
        piece = vocab.pieces[s.id]
        out.append(
            TokenEvent(
                index=start + n,
                id=s.id,
                piece=piece,
                kind=vocab.kind(s.id),
                text="" if is_eog else text.push(piece),
                logprob=s.logprob,
                top=s.top,
                prob_after=1.0,
                is_eog=is_eog,
            )
        )
    return out


def fork_stream(
    model: Backend,
    prompt: Sequence[int],
    prefix: Sequence[TokenEvent],
    forced: Sequence[int],
    *,
    max_tokens: int,
    cancel: Callable[[], bool] | None = None,
    **stream_kwargs: Any,
) -> Iterator[StreamItem]:
    """Stream a branch: the forced tokens' events, then the model's continuation, then one
    Finished for the whole branch (prefix, forced and continued tokens).

    Args:
        prompt: the reply's prompt ids (what the original reply was generated from).
        prefix: the original reply's first k events, kept as they are.
        forced: the token ids put at position k.
        max_tokens: the branch's length limit, prefix included.
        stream_kwargs: passed to the model's stream (settings, stop, top_k).

    Raises:
        Whatever the model's score and stream raise (PromptTooLong, DecodeError).
    """
    text = branch_text(prefix)
    start = len(prefix)
    context = [*prompt, *(e.id for e in prefix)]
    events = forced_events(model, context, forced, start, text)
    yield from events
    n_before = start + len(events)
    ended_early = any(e.is_eog for e in events)
    budget = max_tokens - n_before
    last: Finished | None = None
    continued = 0
    before = text.text
    if not ended_early and budget > 0 and not (cancel is not None and cancel()):
        for item in model.stream(
            [*context, *forced], max_tokens=budget, cancel=cancel, **stream_kwargs
        ):
            if isinstance(item, Finished):
                last = item
                break
            continued += 1
            added = "" if item.is_eog else text.push(item.piece)
            yield replace(item, index=n_before + item.index, text=added)
    text.flush()
    if last is not None:
        yield replace(
            last,
            tokens=n_before + continued,
            # a stop string cuts the continuation's text where the model's stream cut it
            text=before + last.text if last.reason == StopReason.STOP_STRING else text.text,
        )
    else:
        reason = StopReason.EOG if ended_early else StopReason.MAX_TOKENS
        if cancel is not None and cancel():
            reason = StopReason.CANCELLED
        yield Finished(
            reason=reason,
            tokens=n_before,
            elapsed_s=0.0,
            text=text.text,
            prompt_tokens=len(context),
            reused_tokens=0,
        )
