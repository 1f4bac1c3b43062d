"""A one-line summary chart of shift classes for the aligned reply (URIAL's three classes)."""

from __future__ import annotations

from collections import Counter

from rich.text import Text
from textual.widgets import Static

from playground.ui.widgets.token_render import CLASS_STYLE

CLASSES = ("unshifted", "marginal", "shifted")


class ShiftChart(Static):
    DEFAULT_CSS = """
    ShiftChart { height: 1; width: 1fr; padding: 0 1; }
    """

    counts: Counter[str]

    def on_mount(self) -> None:
        self.counts = Counter()
        self.show_counts(Counter(), note="shift: waiting for both replies")

    def show_counts(self, counts: Counter[str], note: str = "", width: int = 30) -> None:
        self.counts = counts
        total = sum(counts[c] for c in CLASSES)
        text = Text()
        if total == 0:
            text.append(note or "shift: no comparable tokens", "dim")
            self.update(text)
            return
        text.append("shift ")
        for cls in CLASSES:
            cells = round(width * counts[cls] / total)
            text.append(" " * cells, CLASS_STYLE[cls])
        for cls in CLASSES:
            text.append(
                f" {cls} {counts[cls]} ({100 * counts[cls] / total:.0f}%)", CLASS_STYLE[cls]
            )
        if note:
            text.append(f"  {note}", "dim")
        self.update(text)
