"""Wrapping a streaming reply in pieces must give the lines that wrapping it at once gives.

The panes re-wrap only the last line of a streaming turn (see playground/ui/widgets/wrap.py);
if that shortcut were wrong, a long reply would show different line breaks while it streams
than after it finished, or lose text at a break.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console

from playground.session.turns import Turn
from playground.ui.widgets.token_render import View
from playground.ui.widgets.token_view import TurnLines
from playground.ui.widgets.wrap import wrap_offsets
from tests.ui.conftest import text_event

CONSOLE = Console(width=200, color_system="truecolor", force_terminal=True)

# pieces like a tokenizer's: words with a leading space, bare words, newlines, CJK, emoji,
# runs of spaces, and one long unbroken run (no tabs: the views draw them as spaces or →)
PIECES = st.sampled_from(
    [" the", " cat", "sat", " on", "\n", "\n\n", "  ", " ", "本", "日本語", "🙂", ".", ","]
    + ["x" * 37, " supercalifragilistic", "a"]
)


def lines_of(text: str, width: int) -> list[str]:
    offsets = wrap_offsets(text, width)
    return [text[a:b] for a, b in zip(offsets, [*offsets[1:], len(text)], strict=True)]


@given(st.lists(PIECES, max_size=60), st.integers(1, 50))
def test_lines_hold_all_the_text_and_fit_the_width(pieces: list[str], width: int) -> None:
    text = "".join(pieces)
    lines = lines_of(text, width)
    assert "".join(lines) == text
    for line in lines:
        # a line is at most the width, not counting its newline and the spaces that hang
        # after its last word; a single character wider than the width stands alone
        body = line.rstrip("\n").rstrip()
        assert cell_len(body) <= width or len(body) == 1
        assert "\n" not in line[:-1]


def test_words_move_whole_to_the_next_line() -> None:
    assert lines_of("the cat sat on a mat", 9) == ["the cat ", "sat on a ", "mat"]
    assert lines_of("ab\ncd", 10) == ["ab\n", "cd"]
    assert lines_of("x" * 10, 4) == ["xxxx", "xxxx", "xx"]
    assert lines_of("日本語", 4) == ["日本", "語"]  # two cells each


@given(
    st.lists(PIECES, min_size=1, max_size=80),
    st.lists(st.integers(1, 7), min_size=1, max_size=30),
    st.integers(4, 60),
    st.sampled_from(list(View)),
)
def test_streaming_in_batches_draws_what_a_finished_turn_draws(
    pieces: list[str], batches: list[int], width: int, view: View
) -> None:
    events = [text_event(i, p) for i, p in enumerate(pieces)]
    streamed = Turn(user="Hello", mode="chat", template="none")
    key = ("k",)
    state = TurnLines.build(streamed, key, view, False, -1, 0, width, CONSOLE)
    taken = 0
    for size in batches:
        streamed.events.extend(events[taken : taken + size])
        taken += size
        state.extend(view, -1, 0, CONSOLE)
    streamed.events.extend(events[taken:])
    state.extend(view, -1, 0, CONSOLE)

    whole = Turn(user="Hello", mode="chat", template="none", events=list(events))
    fresh = TurnLines.build(whole, key, view, False, -1, 0, width, CONSOLE)
    assert [s.text for s in state.lines()] == [s.text for s in fresh.lines()]
    assert list(state.lines()) == list(fresh.lines())  # styles too, span by span
    # every token is found on the line that shows it
    for i in range(len(events)):
        line = state.lines()[state.line_of_token(i)].text
        shown = fresh.lines()[fresh.line_of_token(i)].text
        assert line == shown
