"""Printing a streamed reply never shows a stop string, however the tokens split it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from playground.engine.stop_text import StopHoldback, shown_length


def test_a_stop_split_across_tokens_is_never_printed() -> None:
    hold = StopHoldback(["\n\nUser:"])
    printed = [hold.push(p) for p in ["Paris.", "\n", "\nUs", "er:", " And"]]
    assert "".join(printed) == "Paris."
    assert hold.finish("Paris.") == ""


def test_a_false_start_is_printed_once_it_is_clear() -> None:
    hold = StopHoldback(["\n\nUser:"])
    assert hold.push("a\n\nUs") == "a"
    assert hold.push("ually") == "\n\nUsually"


def test_no_stops_prints_everything_at_once() -> None:
    hold = StopHoldback([])
    assert hold.push("abc") == "abc"


_TEXT = st.text(alphabet="ab:\n ", max_size=30)


@given(text=_TEXT, stop=st.text(alphabet="ab:\n", min_size=1, max_size=4), data=st.data())
def test_printed_text_is_the_text_before_the_first_stop(text: str, stop: str, data) -> None:  # type: ignore[no-untyped-def]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    hold = StopHoldback([stop])
    printed = "".join(hold.push(c) for c in chunks)
    at = text.find(stop)
    final = text if at < 0 else text[:at]
    assert stop not in printed
    assert final.startswith(printed)
    assert printed + hold.finish(final) == final
    assert shown_length(text, [stop]) <= len(final)
