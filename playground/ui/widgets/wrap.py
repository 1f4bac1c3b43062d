"""Greedy word wrap by terminal cells, as line start offsets.

The panes wrap a reply while it streams. Appending text to a paragraph can only change its
last wrapped line (a word that starts on a line never moves back to an earlier one), so a
streaming pane re-wraps just that line and what follows it: the cost of a frame is the new
text, not the whole reply. `wrap_offsets` is the one rule both paths use, and the tests
check that wrapping in pieces gives the same lines as wrapping at once.
"""

from __future__ import annotations

import re

from rich.cells import cell_len, get_character_cell_size

_CHUNK = re.compile(r"\S+\s*|\s+")
"""A word with the spaces after it, or a run of leading spaces (newlines are split first)."""


def wrap_offsets(text: str, width: int, start: int = 0) -> list[int]:
    """Where each line of `text[start:]` starts: greedy word wrap at `width` cells.

    A newline ends its line (the line includes it) and the next line starts after it.
    Spaces after a word may hang past the width, as in a word processor. A word wider than
    the whole line is folded by cells. The first offset is always `start`.
    """
    width = max(1, width)
    starts: list[int] = []
    pos = start
    while True:
        end = text.find("\n", pos)
        stop = len(text) if end < 0 else end
        starts.extend(_wrap_paragraph(text, pos, stop, width))
        if end < 0:
            return starts
        pos = end + 1


def _wrap_paragraph(text: str, start: int, stop: int, width: int) -> list[int]:
    starts = [start]
    col = 0
    for chunk in _CHUNK.finditer(text, start, stop):
        piece = chunk.group()
        word = piece.rstrip()
        word_cells = cell_len(word)
        if col + word_cells <= width:
            col += cell_len(piece)
            continue
        if col > 0:
            starts.append(chunk.start())
            col = 0
        if word_cells <= width:
            col = cell_len(piece)
            continue
        # a word wider than a line: fold it by cells
        for offset, char in enumerate(word):
            cells = get_character_cell_size(char)
            if col + cells > width and col > 0:
                starts.append(chunk.start() + offset)
                col = 0
            col += cells
        col += cell_len(piece[len(word) :])
    return starts
