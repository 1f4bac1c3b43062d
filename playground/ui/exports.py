"""Exports of a conversation: Markdown of every turn, and the analysis module's HTML shift
report of the current turn (the same page `playground compare --html` writes), built from
the token data and analyses the app already holds, so nothing is generated twice."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from playground.analysis.compare import Comparison, Generation
from playground.analysis.contexts import Prompt
from playground.analysis.report_html import render_html
from playground.engine.settings import SamplerSettings
from playground.session.turns import SIDES, SideTranscript, Turn


def markdown(transcripts: Mapping[str, SideTranscript], specs: Mapping[str, Any]) -> str:
    """Both sides, turn by turn, with the template and why each reply stopped."""
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
            lines += [
                f"**{side}** (template `{turn.template}`, {len(turn.events)} tokens, {status}):",
                "",
                turn.reply_text or "_(empty)_",
                "",
            ]
    return "\n".join(lines)


def write_markdown(
    path: Path, transcripts: Mapping[str, SideTranscript], specs: Mapping[str, Any]
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(transcripts, specs), encoding="utf-8")
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
    return Generation(
        prompt=prompt,
        ids=tuple(e.id for e in turn.events),
        events=tuple(turn.events),
        text=turn.reply_text,
        finished=turn.finished,
    )


def write_html(
    path: Path, transcripts: Mapping[str, SideTranscript], specs: Mapping[str, Any]
) -> Path | None:
    """The analysis module's self-contained HTML report of the last turn; None until both
    replies of that turn are finished and analysed."""
    comparison = turn_comparison(transcripts, specs)
    if comparison is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(comparison), encoding="utf-8")
    return path
