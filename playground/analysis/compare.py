"""The whole comparison: both replies to one query, then the shift analysis, as data.

`run_comparison` generates the aligned model's reply (its own template) and the base
model's own reply (the context the user chose), then scores the analysed reply under the
other model. `comparison_to_json` is the `playground compare --json` object; the HTML report
renders the same `Comparison`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from playground.analysis.contexts import (
    BaseContext,
    Prompt,
    aligned_prompt,
    base_prompt,
)
from playground.analysis.shift import ShiftAnalysis, ShiftClass, TokenShift, analyse_reply
from playground.engine.backend import Backend
from playground.engine.settings import SamplerSettings
from playground.engine.types import Finished, TokenEvent, TopEntry
from playground.engine.utf8 import hex_escape

Direction = Literal["aligned", "base", "both"]
"""Whose reply is analysed: the aligned one under the base model (URIAL), the base one
under the aligned model, or both."""


@dataclass(frozen=True)
class Generation:
    """One model's reply to the query."""

    prompt: Prompt
    ids: tuple[int, ...]
    events: tuple[TokenEvent, ...]
    text: str
    finished: Finished
    forced: tuple[tuple[int, str], ...] = ()
    """(token index, how it was chosen) for each token the user forced (a fork, a swap);
    its event's log-probability is the model's before forcing."""


@dataclass(frozen=True)
class Comparison:
    """Everything a report shows."""

    query: str
    base_name: str
    aligned_name: str
    base: Generation
    aligned: Generation
    settings: SamplerSettings
    max_tokens: int
    analysis: ShiftAnalysis
    """The aligned reply scored under the base model (the base reply for direction 'base')."""
    direction: Literal["aligned", "base"]
    reverse: ShiftAnalysis | None = None
    """With direction 'both': the base reply scored under the aligned model."""
    base_settings: SamplerSettings | None = None
    """The base model's settings where they differ from `settings` (the aligned model's);
    None when both models sampled alike."""


def generate(
    model: Backend,
    prompt: Prompt,
    *,
    settings: SamplerSettings,
    max_tokens: int,
    stop: Sequence[str] = (),
    top_k: int = 5,
) -> Generation:
    """Run one model's stream to the end and keep every event."""
    events: list[TokenEvent] = []
    finished: Finished | None = None
    for item in model.stream(
        prompt.ids, settings=settings, max_tokens=max_tokens, stop=stop, top_k=top_k
    ):
        if isinstance(item, TokenEvent):
            events.append(item)
        else:
            finished = item
    assert finished is not None
    return Generation(prompt, tuple(e.id for e in events), tuple(events), finished.text, finished)


def run_comparison(
    base: Backend,
    aligned: Backend,
    query: str,
    *,
    base_context: BaseContext = "urial",
    settings: SamplerSettings | None = None,
    max_tokens: int = 256,
    direction: Direction = "aligned",
    top_k: int = 5,
) -> Comparison:
    """Generate both replies (greedy by default) and analyse the chosen one(s)."""
    settings = settings or SamplerSettings()
    a_prompt = aligned_prompt(aligned, query)
    b_prompt = base_prompt(base, query, base_context, aligned)
    stop = tuple(settings.stop)
    a_gen = generate(
        aligned, a_prompt, settings=settings, max_tokens=max_tokens, stop=stop, top_k=top_k
    )
    # The base side stops where its layout says a reply ends (URIAL: at the next query);
    # the aligned model ends its turn itself.
    b_gen = generate(
        base,
        b_prompt,
        settings=settings,
        max_tokens=max_tokens,
        stop=stop + b_prompt.stop,
        top_k=top_k,
    )

    def aligned_under_base() -> ShiftAnalysis:
        return analyse_reply(
            aligned,
            base,
            producer_context=a_prompt.ids,
            scorer_context=b_prompt.ids,
            reply=a_gen.ids,
            events=a_gen.events,
            top_k=top_k,
        )

    def base_under_aligned() -> ShiftAnalysis:
        return analyse_reply(
            base,
            aligned,
            producer_context=b_prompt.ids,
            scorer_context=a_prompt.ids,
            reply=b_gen.ids,
            events=b_gen.events,
            top_k=top_k,
        )

    main = base_under_aligned() if direction == "base" else aligned_under_base()
    reverse = base_under_aligned() if direction == "both" else None
    return Comparison(
        query=query,
        base_name=base.info.name,
        aligned_name=aligned.info.name,
        base=b_gen,
        aligned=a_gen,
        settings=settings,
        max_tokens=max_tokens,
        analysis=main,
        direction="base" if direction == "base" else "aligned",
        reverse=reverse,
    )


# ---------------------------------------------------------------------------- JSON


def piece_text(piece: bytes) -> str:
    """A token piece for display: text, with bytes that are not valid UTF-8 as <0xNN>."""
    return hex_escape(piece)


def _num(x: float | None) -> float | None:
    if x is None:
        return None
    if math.isinf(x) or math.isnan(x):
        return None  # JSON has no infinity
    return round(x, 6)


def top_json(top: Sequence[TopEntry]) -> list[dict[str, Any]]:
    return [{"id": e.id, "piece": piece_text(e.piece), "logprob": _num(e.logprob)} for e in top]


def token_json(t: TokenShift, producer: Literal["aligned", "base"]) -> dict[str, Any]:
    """One row of `tokens`, with the issue's names ('aligned_*', 'base_*') for each side."""
    scorer = "base" if producer == "aligned" else "aligned"
    return {
        "index": t.index,
        "piece": piece_text(t.piece),
        "id": t.id,
        "offset": t.offset,
        "special": t.special,
        f"{producer}_logprob": _num(t.producer_logprob),
        f"{scorer}_logprob": _num(t.other_logprob),
        f"{scorer}_rank": t.other_rank,
        f"{scorer}_rank_exact": t.other_rank_exact,
        "class": t.shift.value,
        f"{producer}_top": top_json(t.producer_top),
        f"{scorer}_top": top_json(t.other_top),
        "kl": _num(t.kl),
        "approximate": t.approximate,
        f"{scorer}_piece": piece_text(t.other_piece),
        f"{scorer}_id": t.other_id,
    }


def analysis_json(a: ShiftAnalysis, producer: Literal["aligned", "base"]) -> dict[str, Any]:
    s = a.summary
    return {
        "direction": f"{producer} reply scored by the "
        + ("base" if producer == "aligned" else "aligned")
        + " model",
        "vocab": a.vocab,
        "kl_method": a.kl_method,
        "tokens": [token_json(t, producer) for t in a.tokens],
        "summary": {
            "tokens": s.total,
            "unshifted": s.unshifted,
            "marginal": s.marginal,
            "shifted": s.shifted,
            "unshifted_ratio": _num(s.ratio(ShiftClass.UNSHIFTED)),
            "marginal_ratio": _num(s.ratio(ShiftClass.MARGINAL)),
            "shifted_ratio": _num(s.shifted_ratio),
            "approximate": s.approximate,
            "mean_kl": _num(s.mean_kl),
            "most_shifted": list(s.most_shifted),
            "by_decile": [list(d) for d in s.by_decile],
        },
    }


def _jsonable(value: Any) -> Any:
    """Settings as strict JSON: a -inf logit bias becomes the string "-inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def comparison_to_json(c: Comparison) -> dict[str, Any]:
    """The `playground compare --json` object."""
    out: dict[str, Any] = {
        "base": c.base_name,
        "aligned": c.aligned_name,
        "query": c.query,
        "reply": c.aligned.text,
        "base_reply": c.base.text,
        "prompts": {
            "aligned": {
                "mode": c.aligned.prompt.mode,
                "template": c.aligned.prompt.template,
                "text": c.aligned.prompt.text,
            },
            "base": {
                "mode": c.base.prompt.mode,
                "template": c.base.prompt.template,
                "text": c.base.prompt.text,
            },
        },
        "settings": _jsonable({**asdict(c.settings), "max_tokens": c.max_tokens}),
        "stop": {"aligned": c.aligned.finished.reason.value, "base": c.base.finished.reason.value},
        **analysis_json(c.analysis, c.direction),
    }
    if c.reverse is not None:
        out["reverse"] = analysis_json(c.reverse, "base")
    return out
