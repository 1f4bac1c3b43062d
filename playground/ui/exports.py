"""Exports of a conversation: Markdown always, the HTML shift report where analysis has one."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from playground.ui.transcript import SIDES, SideTranscript


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


def write_html(
    path: Path, transcripts: Mapping[str, SideTranscript], specs: Mapping[str, Any]
) -> Path | None:
    """The analysis module's HTML report of the last turn, when this checkout has one."""
    try:
        report = importlib.import_module("playground.analysis.report")
    except ImportError:
        return None
    render = getattr(report, "render_turn_html", None)
    if render is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(render(transcripts, specs)), encoding="utf-8")
    return path
