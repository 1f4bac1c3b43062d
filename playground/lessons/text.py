"""A lesson's result as plain terminal text: tables, bars, stacked bars, token strips.

Widths are terminal cells, not characters: a CJK character takes two cells, so Chinese
explanations wrap at the right column and table columns stay aligned in both languages.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from playground.lessons.figures import (
    Bars,
    Bilingual,
    Figure,
    Lang,
    LessonResult,
    Series,
    StackedBars,
    Table,
    TokenStrip,
)

BAR_WIDTH = 32
PART_MARKS = ("█", "▒", "░", "▚")
SPARK = "▁▂▃▄▅▆▇█"
_EIGHTHS = " ▏▎▍▌▋▊▉"
_CLOSING = frozenset("，。；：！？、）》」』”")


def char_width(ch: str) -> int:
    """Terminal cells of one character: 2 for wide (CJK) ones, 0 for combining marks."""
    if unicodedata.combining(ch) or ch in "\u200b\u200d":
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def cell_width(text: str) -> int:
    return sum(char_width(c) for c in text)


def pad(text: str, width: int) -> str:
    """`text` cut or padded to exactly `width` cells."""
    out = []
    used = 0
    for ch in text:
        w = char_width(ch)
        if used + w > width:
            if used < width and width - used < w and width > 1:
                out.append("…" if used + 1 <= width else "")
                used += 1
            break
        out.append(ch)
        used += w
    return "".join(out) + " " * (width - used)


def _is_wide(ch: str) -> bool:
    return char_width(ch) == 2


def wrap(text: str, width: int) -> list[str]:
    """Wrap to `width` cells: at spaces between words, anywhere between CJK characters.

    A word longer than the width is cut. Newlines in `text` are kept.
    """
    width = max(4, width)
    lines: list[str] = []
    for para in text.split("\n"):
        indent = " " * (len(para) - len(para.lstrip(" ")))
        para = para.lstrip(" ")
        line = indent
        used = len(indent)
        # Tokens: a run of non-space non-wide characters, a single wide character, or spaces.
        tokens: list[str] = []
        buf = ""
        for ch in para:
            if _is_wide(ch) or ch == " ":
                if buf:
                    tokens.append(buf)
                    buf = ""
                tokens.append(ch)
            else:
                buf += ch
        if buf:
            tokens.append(buf)
        for tok in tokens:
            w = cell_width(tok)
            if tok == " ":
                if used > len(indent) and used + 1 <= width:
                    line += " "
                    used += 1
                continue
            if used + w > width and line.strip():
                carry = ""
                if (
                    tok in _CLOSING
                    and _is_wide(line[-1:])
                    and line[-1] not in _CLOSING
                    and line[:-1].strip()
                    and len(indent) + cell_width(line[-1] + tok) <= width
                ):
                    # No line starts with closing punctuation: take the character before it
                    # along to the next line, unless that leaves nothing behind or
                    # would not fit either.
                    carry, line = line[-1], line[:-1]
                if line.strip():
                    lines.append(line.rstrip())
                line, used = indent + carry, len(indent) + cell_width(carry)
            while w > width:  # an over-long word: cut it
                head = pad(tok, width).rstrip()
                lines.append(head)
                tok = tok[len(head) :]
                w = cell_width(tok)
            line += tok
            used += w
        lines.append(line.rstrip())
    return lines


def table_lines(columns: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> list[str]:
    """An aligned table; columns shrink (widest first) until the table fits `width`."""
    n = len(columns)
    widths = [cell_width(c) for c in columns]
    for r in rows:
        for i, cell in enumerate(r[:n]):
            widths[i] = max(widths[i], cell_width(cell))
    sep = 2
    while sum(widths) + sep * (n - 1) > width and max(widths) > 6:
        i = widths.index(max(widths))
        widths[i] -= 1

    def line(cells: Sequence[str]) -> str:
        return (" " * sep).join(pad(c, w) for c, w in zip(cells, widths, strict=False)).rstrip()

    out = [line(columns), (" " * sep).join("─" * w for w in widths)]
    out.extend(line(r) for r in rows)
    return out


def bar(value: float, scale: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar in eighths of a cell."""
    frac = 0.0 if scale <= 0 else max(0.0, min(1.0, value / scale))
    eighths = round(frac * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (_EIGHTHS[part] if part else "")).ljust(width)


def stacked(counts: Sequence[int], width: int = BAR_WIDTH) -> str:
    total = sum(counts)
    if not total:
        return " " * width
    out = ""
    acc = 0
    for k, c in enumerate(counts):
        acc += c
        end = round(acc / total * width)
        out += PART_MARKS[k % len(PART_MARKS)] * (end - len(out))
    return out


def sparkline(values: Sequence[float], top: float) -> str:
    if not values:
        return ""
    top = top or 1.0
    return "".join(
        SPARK[min(len(SPARK) - 1, int(v / top * (len(SPARK) - 1) + 0.5))] for v in values
    )


def figure_lines(fig: Figure, lang: Lang, width: int) -> list[str]:
    out = [fig.title.get(lang)]
    if isinstance(fig, Table):
        head = [c.get(lang) if isinstance(c, Bilingual) else c for c in fig.columns]
        out.extend(table_lines(head, fig.rows, width))
    elif isinstance(fig, Bars):
        label_w = min(max((cell_width(b.label) for b in fig.bars), default=0), width // 3)
        text_w = max((cell_width(b.text) for b in fig.bars), default=0)
        bar_w = max(8, min(BAR_WIDTH, width - label_w - text_w - 3))
        for b in fig.bars:
            out.append(f"{pad(b.label, label_w)}  {bar(b.value, fig.scale, bar_w)} {b.text}")
    elif isinstance(fig, StackedBars):
        legend = "  ".join(
            f"{PART_MARKS[k % len(PART_MARKS)]} {p}" for k, p in enumerate(fig.parts)
        )
        out.append(legend)
        label_w = min(max((cell_width(r.label) for r in fig.rows), default=0), width // 3)
        counts_w = max((cell_width(" ".join(map(str, r.counts))) for r in fig.rows), default=0)
        bar_w = max(8, min(BAR_WIDTH, width - label_w - counts_w - 3))
        for r in fig.rows:
            counts = " ".join(str(c) for c in r.counts)
            out.append(f"{pad(r.label, label_w)}  {stacked(r.counts, bar_w)} {counts}")
    elif isinstance(fig, TokenStrip):
        marks = {"": ("[", "]")}
        keys: list[str] = []
        for k, (tag, meaning) in enumerate(fig.tags):
            pair = (("«", "»"), ("{", "}"), ("<", ">"))[k % 3]
            marks[tag] = pair
            keys.append(f"{pair[0]}…{pair[1]} {meaning.get(lang)}")
        if keys:
            out.append("  ".join(keys))
        cells = [
            marks.get(t.tag, ("[", "]"))[0] + t.text + marks.get(t.tag, ("[", "]"))[1]
            for t in fig.tokens
        ]
        line = ""
        for c in cells:
            if line and cell_width(line) + cell_width(c) > width:
                out.append(line)
                line = ""
            line += c
        if line:
            out.append(line)
    elif isinstance(fig, Series):
        top = max((max(v, default=0.0) for _, v in fig.lines), default=1.0)
        name_w = max((cell_width(n) for n, _ in fig.lines), default=0)
        for name, values in fig.lines:
            shown = values[: max(1, width - name_w - 4)]
            out.append(f"{pad(name, name_w)}  {sparkline(shown, top)}")
        out.append(f"{' ' * name_w}  {fig.x_label} → (top = {top:.2f})")
    return out


def render(result: LessonResult, lang: Lang, width: int = 100) -> str:
    """The whole lesson as text: title, claim, explanation, figures, finding, notes."""
    t = lang
    head = f"Lesson {result.number}: {result.title.get(t)}"
    lines = [head, "═" * min(width, cell_width(head))]
    lines.extend(wrap(result.claim.get(t), width))
    lines.append("")
    lines.extend(wrap(result.explanation.get(t), width))
    lines.append("")
    lines.append(f"{result.models[0]}  ×  {result.models[1]}")
    for what, value in result.setup:
        lines.extend(wrap(f"  {what}: {value}", width))
    for fig in result.figures:
        lines.append("")
        lines.extend(figure_lines(fig, t, width))
    lines.append("")
    lines.extend(wrap(("→ " if t == "en" else "→ ") + result.finding.get(t), width))
    for note in result.notes:
        lines.extend(wrap("* " + note.get(t), width))
    lines.append(
        f"({result.elapsed_s:.1f} s)" if t == "en" else f"（用时 {result.elapsed_s:.1f} 秒）"
    )
    return "\n".join(lines) + "\n"
