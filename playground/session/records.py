"""How turns are written to the conversation file and read back: plain JSON values.

Token pieces are bytes, so they are stored as hex and any piece survives the round trip;
sampler traces and settings are dataclasses, stored field by field and read back as the
same types where they still parse.
"""

from __future__ import annotations

from typing import Any

from playground.engine.trace import SampleTrace, TrickMove
from playground.engine.types import Finished, TokenEvent, TokenKind, TopEntry
from playground.sampling.presets import PresetError, settings_from_mapping
from playground.session.turns import OtherView


def token_record(ev: TokenEvent) -> dict[str, Any]:
    """A token event as JSON: bytes as hex, so any piece survives the round trip."""
    return {
        "i": ev.index,
        "id": ev.id,
        "piece": ev.piece.hex(),
        "kind": ev.kind.value,
        "text": ev.text,
        "lp": round(ev.logprob, 5),
        "pa": round(ev.prob_after, 5),
        "eog": ev.is_eog,
        "top": [[t.id, t.piece.hex(), round(t.logprob, 5)] for t in ev.top],
        "trace": _jsonable(ev.trace),
    }


def view_record(view: OtherView | None) -> list[Any] | None:
    """How the other model saw one token, as JSON (so a resumed conversation's inspector
    still shows both models' top-k)."""
    if view is None:
        return None
    ids = view.top_ids or (None,) * len(view.top)
    return [
        # A rank known only as a bound is written as its text (">20"), so it reads back so.
        view.rank if view.rank_exact else view.rank_text,
        None if view.logprob is None else round(view.logprob, 5),
        view.shift_class,
        view.approximate,
        [[i, p.hex(), round(lp, 5)] for i, (p, lp) in zip(ids, view.top, strict=False)],
    ]


def view_from_record(rec: list[Any] | None) -> OtherView | None:
    if rec is None:
        return None
    rank, lp, shift_class, approximate, top = rec
    exact = not isinstance(rank, str)
    return OtherView(
        rank=rank if exact else int(rank.removeprefix(">")) + 1,
        rank_exact=exact,
        logprob=lp,
        top=tuple((bytes.fromhex(p), float(t_lp)) for _i, p, t_lp in top),
        shift_class=shift_class,
        approximate=bool(approximate),
        top_ids=tuple(int(i) for i, _p, _lp in top if i is not None),
    )


def trace_from_record(rec: Any) -> Any:
    """A saved sampler trace as a SampleTrace again, so a resumed conversation's inspector
    says what the sampler did; anything unreadable is kept as it was saved."""
    if not isinstance(rec, dict):
        return rec

    def move(m: dict[str, Any]) -> TrickMove:
        return TrickMove(str(m["name"]), int(m["token"]), float(m["delta"]))

    try:
        return SampleTrace(
            settings=settings_from_mapping(rec["settings"]),
            prob_before=float(rec["prob_before"]),
            prob_after=float(rec["prob_after"]),
            moves=tuple(move(m) for m in rec.get("moves") or ()),
            biggest=move(rec["biggest"]) if rec.get("biggest") else None,
            candidates=int(rec.get("candidates", 0)),
            notes=tuple(str(n) for n in rec.get("notes") or ()),
        )
    except (KeyError, TypeError, ValueError, PresetError):
        return rec


def token_from_record(rec: dict[str, Any]) -> TokenEvent:
    return TokenEvent(
        index=int(rec["i"]),
        id=int(rec["id"]),
        piece=bytes.fromhex(rec["piece"]),
        kind=TokenKind(rec["kind"]),
        text=str(rec["text"]),
        logprob=float(rec["lp"]),
        top=tuple(TopEntry(int(i), bytes.fromhex(p), float(lp)) for i, p, lp in rec["top"]),
        prob_after=float(rec["pa"]),
        is_eog=bool(rec["eog"]),
        trace=trace_from_record(rec.get("trace")),
    )


def finished_record(fin: Finished) -> dict[str, Any]:
    return {
        "reason": fin.reason.value,
        "text": fin.text,
        "tokens": fin.tokens,
        "elapsed_s": round(fin.elapsed_s, 4),
        "tok_s": round(fin.tok_per_s, 2),
        "prompt_tokens": fin.prompt_tokens,
        "reused_tokens": fin.reused_tokens,
    }


def _jsonable(value: Any) -> Any:
    """Sampler traces and settings are dataclasses or plain values: keep what JSON can hold."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    fields = getattr(value, "__dataclass_fields__", None)
    if fields is not None:
        return {name: _jsonable(getattr(value, name)) for name in fields}
    return repr(value)


def jsonable(value: Any) -> Any:
    """Public alias: settings objects and traces as JSON-ready values."""
    return _jsonable(value)
