"""Exports of a conversation: Markdown of the branch on screen with its forks listed, and the
analysis module's HTML shift report of the current turn (the same page `playground compare
--html` writes), built from the token data and analyses the app already holds, so nothing is
generated twice. Forced tokens are marked ⟦like this⟧ with the probability the model gave
them before they were forced."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from playground.analysis.compare import Comparison, Generation
from playground.analysis.contexts import Prompt
from playground.analysis.report_html import render_html
from playground.engine.settings import SamplerSettings
from playground.session.turns import SIDES, SideTranscript, Turn

Forks = Sequence[tuple[Turn, Sequence[Turn]]]
"""(the turn on screen, all its siblings) for every point with more than one reply."""


def marked_reply(turn: Turn) -> str:
    """The reply text with each forced token's text in ⟦ ⟧ (the text as the model wrote it
    when nothing was forced)."""
    if not turn.forced:
        return turn.reply_text
    return "".join(
        f"⟦{e.text or e.piece.decode('utf-8', 'replace')}⟧" if e.index in turn.forced else e.text
        for e in turn.events
    )


def forced_lines(turn: Turn) -> list[str]:
    """One line per forced token: where, what, how, and its probability before forcing."""
    lines = []
    for e in turn.events:
        forced = turn.forced.get(e.index)
        if forced is None:
            continue
        how = forced.source + (f" from the {forced.from_side} model" if forced.from_side else "")
        note = f"; {forced.note}" if forced.note else ""
        text = e.piece.decode("utf-8", "replace")
        lines.append(
            f"- forced token #{e.index} {text!r} ({how}, p before forcing {e.prob:.4f}{note})"
        )
    return lines


def fork_points(forks: Forks, depth_of: Mapping[int, int]) -> list[tuple[str, list[str]]]:
    """Every point with more than one reply, as (where, one line per branch): how each
    branch came about, which one is on screen, and how it begins."""
    out = []
    for shown, siblings in forks:
        turn_no = depth_of.get(shown.id, 0) + 1
        where = f"{shown.side}, turn {turn_no}: {len(siblings)} replies"
        branches = []
        for n, sib in enumerate(siblings, 1):
            how = (
                f"forked at token #{sib.fork.at}"
                if sib.fork is not None
                else ("regenerated" if n > 1 else "first reply")
            )
            if sib.user != siblings[0].user:
                how = f"edited message {sib.user[:40]!r}"
            mark = " (on screen)" if sib is shown else ""
            preview = marked_reply(sib).replace("\n", " ")[:60]
            branches.append(f"branch {n}{mark}: {how}: {preview!r}")
        out.append((where, branches))
    return out


def fork_section(forks: Forks, depth_of: Mapping[int, int]) -> list[str]:
    """The Markdown list of every fork point."""
    points = fork_points(forks, depth_of)
    if not points:
        return []
    lines = ["## Forks", ""]
    for where, branches in points:
        lines.append(f"- {where}")
        lines += [f"  - {b}" for b in branches]
    lines.append("")
    return lines


def markdown(
    transcripts: Mapping[str, SideTranscript],
    specs: Mapping[str, Any],
    forks: Forks = (),
    depth_of: Mapping[int, int] | None = None,
) -> str:
    """The branch on screen, turn by turn, with the template and why each reply stopped;
    forced tokens marked; then every fork point of the conversation."""
    lines = ["# Playground conversation", ""]
    for side in SIDES:
        spec = specs.get(side)
        lines.append(f"- **{side}**: {spec.name if spec is not None else '(none)'}")
    lines.append("")
    n = max(len(t.turns) for t in transcripts.values())
    for i in range(n):
        user = next((t.turns[i].user for t in transcripts.values() if i < len(t.turns)), "")
        lines += [f"## Turn {i + 1}", "", "**User:**", "", user, ""]
        for side in SIDES:
            turns = transcripts[side].turns
            if i >= len(turns):
                continue
            turn = turns[i]
            status = turn.error and f"error: {turn.error}" or turn.reason or "running"
            place = transcripts[side].places.get(turn.id)
            branch = (
                f", branch {place.index + 1}/{place.count}" if place and place.count > 1 else ""
            )
            lines += [
                f"**{side}** (template `{turn.template}`, {len(turn.events)} tokens, "
                f"{status}{branch}):",
                "",
                marked_reply(turn) or "_(empty)_",
                "",
            ]
            forced = forced_lines(turn)
            if forced:
                lines += [*forced, ""]
    lines += fork_section(forks, depth_of or {})
    return "\n".join(lines)


def write_markdown(
    path: Path,
    transcripts: Mapping[str, SideTranscript],
    specs: Mapping[str, Any],
    forks: Forks = (),
    depth_of: Mapping[int, int] | None = None,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(transcripts, specs, forks, depth_of), encoding="utf-8")
    return path


def turn_comparison(
    transcripts: Mapping[str, SideTranscript], specs: Mapping[str, Any], index: int = -1
) -> Comparison | None:
    """One turn as the analysis module's Comparison, or None until both replies are analysed.

    The aligned reply ranked by the base model is the report's main section (URIAL's
    direction); the base reply ranked by the aligned model is its reverse section.
    """
    turns = {s: transcripts[s].turns for s in SIDES}
    if any(not t for t in turns.values()):
        return None
    try:
        base, aligned = turns["base"][index], turns["aligned"][index]
    except IndexError:
        return None
    if aligned.analysis is None or base.finished is None or aligned.finished is None:
        return None
    settings = aligned.settings if isinstance(aligned.settings, SamplerSettings) else None
    base_settings = base.settings if isinstance(base.settings, SamplerSettings) else None
    return Comparison(
        query=aligned.user,
        base_name=_name(specs.get("base"), "base"),
        aligned_name=_name(specs.get("aligned"), "aligned"),
        base=_generation(base),
        aligned=_generation(aligned),
        settings=settings or SamplerSettings(),
        max_tokens=settings.max_tokens if settings is not None else len(aligned.events),
        analysis=aligned.analysis,
        direction="aligned",
        reverse=base.analysis,
        base_settings=base_settings,
    )


def _name(spec: Any, fallback: str) -> str:
    return str(spec.name) if spec is not None else fallback


def _generation(turn: Turn) -> Generation:
    assert turn.finished is not None
    prompt = Prompt(
        text=turn.prompt_text,
        ids=tuple(p.id for p in turn.prompt),
        mode=turn.template,
        template=turn.template,
    )
    how = {"pick": "picked", "typed": "typed", "swap": "swapped in"}
    return Generation(
        prompt=prompt,
        ids=tuple(e.id for e in turn.events),
        events=tuple(turn.events),
        text=turn.reply_text,
        finished=turn.finished,
        forced=tuple(
            (
                i,
                how.get(f.source, f.source)
                + (f" from the {f.from_side} model" if f.from_side else ""),
            )
            for i, f in sorted(turn.forced.items())
        ),
    )


def write_html(
    path: Path,
    transcripts: Mapping[str, SideTranscript],
    specs: Mapping[str, Any],
    lessons: list[Any] | None = None,
    forks: Forks = (),
    depth_of: Mapping[int, int] | None = None,
) -> Path | None:
    """The analysis module's self-contained HTML report of the last turn on screen, with
    the conversation's fork points listed; None until both replies of that turn are
    finished and analysed.

    Args:
        lessons: the lessons run in this session (`LessonResult.to_json(lang)`), appended.
    """
    comparison = turn_comparison(transcripts, specs)
    if comparison is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    points = fork_points(forks, depth_of or {})
    path.write_text(render_html(comparison, lessons, points), encoding="utf-8")
    return path
