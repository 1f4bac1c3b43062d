"""The shift analysis of one turn, as the panes and the inspector need it.

The analysis module does the work (one batched teacher-forced pass, full-vocabulary ranks,
alignment by text across vocabularies); this turns its rows into per-token views.
"""

from __future__ import annotations

from collections.abc import Sequence

from playground.analysis.shift import ShiftAnalysis, analyse_reply
from playground.engine.backend import Backend
from playground.engine.types import TokenEvent
from playground.session.turns import OtherView


def analyse_turn(
    producer: Backend,
    scorer: Backend,
    producer_context: Sequence[int],
    scorer_context: Sequence[int],
    reply: Sequence[int],
    events: Sequence[TokenEvent],
) -> tuple[list[OtherView | None], ShiftAnalysis | None]:
    """How `scorer` ranks each token of `producer`'s reply: one view per reply token, and
    the analysis itself (the HTML export renders it)."""
    if not reply:
        return [], None
    result = analyse_reply(
        producer,
        scorer,
        producer_context=producer_context,
        scorer_context=scorer_context,
        reply=reply,
        events=events,
        top_k=5,
        with_kl=False,
    )
    views: list[OtherView | None] = [None] * len(reply)
    for row in result.tokens:
        if 0 <= row.index < len(views):
            views[row.index] = OtherView(
                rank=row.other_rank,
                logprob=row.other_logprob,
                top=tuple((t.piece, t.logprob) for t in row.other_top),
                shift_class=row.shift.value,
                approximate=row.approximate,
                top_ids=tuple(t.id for t in row.other_top),
                rank_exact=row.other_rank_exact,
            )
    return views, result
