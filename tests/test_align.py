"""Cross-vocabulary alignment by byte offsets, on hand-made tokenizations."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from playground.analysis.align import Match, Span, align_spans, spans_of


def test_a_shared_prefix_pairs_token_for_token_exactly() -> None:
    pieces = [b"Hello", b" world", b"!"]
    got = align_spans(spans_of(pieces), spans_of(pieces))
    assert got == [Match(0, True), Match(1, True), Match(2, True)]


def test_a_split_that_differs_is_approximate_and_uses_the_token_at_or_over_the_offset() -> None:
    producer = spans_of([b"Hello", b" world"])
    scorer = spans_of([b"Hel", b"lo", b" wor", b"ld"])
    # "Hello" starts where "Hel" starts but ends elsewhere; " world" likewise with " wor".
    assert align_spans(producer, scorer) == [Match(0, False), Match(2, False)]
    # The other way round: "llo" starts inside the scorer's "Hello", which covers it.
    assert align_spans(spans_of([b"He", b"llo"]), spans_of([b"Hello"])) == [
        Match(0, False),
        Match(0, False),
    ]


def test_a_multibyte_character_split_differently() -> None:
    text = "日本".encode()  # e6 97 a5 | e6 9c ac
    producer = spans_of([text[0:1], text[1:2], text[2:3], text[3:6]])  # byte fallback, then 本
    scorer = spans_of([text[0:2], text[2:6]])  # a BPE split across the character boundary
    assert b"".join([text[0:2], text[2:6]]) == text
    assert align_spans(producer, scorer) == [
        Match(0, False),  # same start, different end
        Match(0, False),  # inside the scorer's first token
        Match(1, False),  # same start, different end
        Match(1, False),  # inside the scorer's second token
    ]


def test_special_tokens_pair_with_the_special_slot_at_the_same_offset() -> None:
    producer = spans_of([b"Hi", b"<|im_end|>"], [False, True])
    scorer = spans_of([b"H", b"i", b"<end_of_turn>"], [False, False, True])
    assert producer[1] == Span(2, 2, True)
    assert align_spans(producer, scorer) == [Match(0, False), Match(2, True)]


def _cuts(data: bytes, marks: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *[m % (len(data) + 1) for m in marks]})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False) if b > a]


@given(
    st.binary(min_size=1, max_size=40),
    st.lists(st.integers(0, 64), max_size=12),
    st.lists(st.integers(0, 64), max_size=12),
)
def test_every_pairing_starts_at_or_covers_the_producer_offset(
    data: bytes, a: list[int], b: list[int]
) -> None:
    producer, scorer = spans_of(_cuts(data, a)), spans_of(_cuts(data, b))
    for p, m in zip(producer, align_spans(producer, scorer), strict=True):
        s = scorer[m.index]
        assert s.start <= p.start < s.end
        assert m.exact == (s.start == p.start and s.end == p.end)


@given(st.binary(min_size=1, max_size=40), st.lists(st.integers(0, 64), max_size=12))
def test_identical_tokenizations_are_exact_everywhere(data: bytes, marks: list[int]) -> None:
    spans = spans_of(_cuts(data, marks))
    assert align_spans(spans, spans) == [Match(i, True) for i in range(len(spans))]
