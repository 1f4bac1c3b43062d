"""Top-k, ranks and log-sum-exp over a vocabulary: property tests against plain numpy."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from playground.engine.topk import logsumexp, rank_of, top_k_ids
from playground.engine.utf8 import IncrementalText, hex_escape

sizes = st.integers(1, 3000)


def logits_for(seed: int, n: int, ties: bool, masked: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * rng.uniform(0.1, 10.0)).astype(np.float32)
    if ties:
        x = np.round(x)
    if masked:
        x[rng.integers(0, n, max(1, n // 3))] = -np.inf
    return x


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=sizes,
    k=st.integers(1, 50),
    ties=st.booleans(),
    masked=st.booleans(),
)
def test_top_k_equals_a_full_stable_sort(
    seed: int, n: int, k: int, ties: bool, masked: bool
) -> None:
    x = logits_for(seed, n, ties, masked)
    want = np.lexsort((np.arange(n), -x))[:k]
    assert top_k_ids(x, k).tolist() == want.tolist()


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**31), n=sizes, ties=st.booleans())
def test_rank_counts_strictly_better_tokens(seed: int, n: int, ties: bool) -> None:
    x = logits_for(seed, n, ties, masked=False)
    token = seed % n
    order = np.lexsort((np.arange(n), -x))
    # rank 1 means nothing scores higher; a tie shares the better rank
    assert rank_of(x, token) == 1 + int(np.sum(x > x[token]))
    assert rank_of(x, int(order[0])) == 1


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**31), n=sizes, masked=st.booleans())
def test_logsumexp_matches_float64(seed: int, n: int, masked: bool) -> None:
    x = logits_for(seed, n, ties=False, masked=masked)
    finite = x[np.isfinite(x)].astype(np.float64)
    if finite.size == 0:
        return
    want = float(finite.max() + np.log(np.exp(finite - finite.max()).sum()))
    assert math.isclose(logsumexp(x), want, rel_tol=1e-6, abs_tol=1e-5)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=40), cuts=st.lists(st.integers(0, 200), max_size=10))
def test_incremental_text_never_breaks_a_character(text: str, cuts: list[int]) -> None:
    """However a valid UTF-8 stream is split into pieces, each character appears once,
    whole, and no U+FFFD is left behind."""
    data = text.encode("utf-8")
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    dec = IncrementalText()
    out = [dec.push(data[a:b]) for a, b in zip(points, points[1:], strict=False)]
    dec.flush()
    assert "".join(out) == text == dec.text
    assert "\ufffd" not in dec.text or "\ufffd" in text


def test_hex_escape_marks_only_invalid_bytes() -> None:
    assert hex_escape("日".encode()) == "日"
    assert hex_escape(b"\xe6") == "<0xE6>"
    assert hex_escape(b"ok\xff\xfe!") == "ok<0xFF><0xFE>!"
