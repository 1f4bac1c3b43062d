"""What a lesson hands back: typed figures that the CLI, the app and the HTML report all draw.

A lesson computes numbers; it never formats them for one screen. Each figure is a frozen
dataclass of plain values (str, int, float, tuples), so it turns into JSON as is and each
front end draws it its own way: text in the terminal, a table and bars in the app, SVG-free
HTML in the report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")


@dataclass(frozen=True)
class Bilingual:
    """One text in both languages of the course."""

    en: str
    zh: str

    def get(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class Table:
    """Rows of cells under a header; cells are already text (numbers formatted by the lesson)."""

    title: Bilingual
    columns: tuple[str | Bilingual, ...]
    """Header cells: words in both languages; a str stays as it is in both (a model name)."""
    rows: tuple[tuple[str, ...], ...]
    kind: Literal["table"] = "table"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    """Between 0 and `scale` of the figure."""
    text: str
    """The value as the reader should see it ("3/5", "60%")."""


@dataclass(frozen=True)
class Bars:
    """Horizontal bars, one per label, on a common scale (stop rates, shares)."""

    title: Bilingual
    bars: tuple[Bar, ...]
    scale: float = 1.0
    kind: Literal["bars"] = "bars"


@dataclass(frozen=True)
class StackedRow:
    label: str
    counts: tuple[int, ...]
    """One count per part of the figure, in the order of `parts`."""


@dataclass(frozen=True)
class StackedBars:
    """Bars split into parts (shift classes per tenth of the reply, for one)."""

    title: Bilingual
    parts: tuple[str, ...]
    rows: tuple[StackedRow, ...]
    kind: Literal["stacked"] = "stacked"


@dataclass(frozen=True)
class StripToken:
    text: str
    """The piece as shown (whitespace marked, bytes as <0xNN>)."""
    tag: str = ""
    """'special', 'handed', 'shifted', ... : how the front end colours it; '' is plain."""
    note: str = ""
    """Shown on hover or in the report's title attribute."""


@dataclass(frozen=True)
class TokenStrip:
    """A token sequence laid out token by token, some tokens tagged."""

    title: Bilingual
    tokens: tuple[StripToken, ...]
    tags: tuple[tuple[str, Bilingual], ...] = ()
    """What each tag means, for the legend."""
    kind: Literal["strip"] = "strip"


@dataclass(frozen=True)
class Series:
    """Values per step for a few named lines (entropy per token position, for one)."""

    title: Bilingual
    x_label: str
    lines: tuple[tuple[str, tuple[float, ...]], ...]
    kind: Literal["series"] = "series"


Figure = Table | Bars | StackedBars | TokenStrip | Series


@dataclass(frozen=True)
class LessonResult:
    """One run of one lesson on one pair of models."""

    name: str
    number: int
    title: Bilingual
    claim: Bilingual
    explanation: Bilingual
    """What to look at, 2 to 4 sentences, with the published figure."""
    finding: Bilingual
    """What this run measured, in a sentence or two, built from the numbers."""
    figures: tuple[Figure, ...]
    models: tuple[str, str]
    """(base, aligned) names."""
    setup: tuple[tuple[str, str], ...] = ()
    """How the experiment was run: (what, value) pairs (templates, settings, N)."""
    notes: tuple[Bilingual, ...] = ()
    """Caveats the reader must see (an approximation across vocabularies, ...)."""
    elapsed_s: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)
    """The raw measurements behind the figures, for --json and the tests."""

    def to_json(self, lang: Lang | None = None) -> dict[str, Any]:
        """Everything, as JSON-ready values; with `lang`, texts in that language only."""
        out: dict[str, Any] = asdict(self)
        if lang is not None:
            out = _pick_lang(out, lang)
            out["lang"] = lang
        return out


def _pick_lang(value: Any, lang: Lang) -> Any:
    if isinstance(value, dict):
        if set(value) == {"en", "zh"}:
            return value[lang]
        return {k: _pick_lang(v, lang) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_pick_lang(v, lang) for v in value]
    return value
