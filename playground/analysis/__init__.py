"""Token distribution shift between a base and an aligned model (URIAL's analysis).

Core only: no Textual. The CLI (`playground compare`), the HTML report and the TUI all read
the same `ShiftAnalysis`.
"""

from __future__ import annotations

from playground.analysis.align import Match, Span, align_spans
from playground.analysis.shift import (
    ShiftAnalysis,
    ShiftClass,
    ShiftSummary,
    TokenShift,
    analyse_reply,
    classify,
    summarize,
)

__all__ = [
    "Match",
    "ShiftAnalysis",
    "ShiftClass",
    "ShiftSummary",
    "Span",
    "TokenShift",
    "align_spans",
    "analyse_reply",
    "classify",
    "summarize",
]
