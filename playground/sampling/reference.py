"""Plain numpy statements of llama.cpp's samplers: what each one means, checkably.

The sampler itself runs llama.cpp's own code. These functions restate the semantics from
src/llama-sampling.cpp (float32 arithmetic, llama.cpp's tie and min_keep rules) so that the
tests can compare llama.cpp against an independent reading of it on random logits, and so
that the docs can point at readable code. A candidate list is (ids, logits), any order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]


def penalties(
    ids: I32,
    logits: F32,
    history: Sequence[int],
    last_n: int,
    repeat: float,
    frequency: float,
    presence: float,
) -> F32:
    """Each id seen c > 0 times in the last `last_n` history tokens: a positive logit is
    divided by `repeat`, a non-positive one multiplied; then c * frequency + presence is
    subtracted."""
    out = logits.astype(np.float32).copy()
    if last_n == 0 or (repeat == 1.0 and frequency == 0.0 and presence == 0.0):
        return out
    counts = Counter(history[-last_n:])
    r = np.float32(repeat)
    for i, tok in enumerate(ids.tolist()):
        c = counts.get(tok, 0)
        if c == 0:
            continue
        x = out[i]
        y = x * r if x <= 0 else x / r
        out[i] = np.float32(y - (np.float32(c) * np.float32(frequency) + np.float32(presence)))
    return out


def _order(ids: I32, logits: F32) -> npt.NDArray[np.intp]:
    """Descending by logit (ties: lower id first; callers avoid ties at cut points)."""
    return np.lexsort((ids, -logits.astype(np.float64)))


def top_k(ids: I32, logits: F32, k: int) -> tuple[I32, F32]:
    """The k highest logits; k <= 0 keeps everything."""
    if k <= 0:
        return ids, logits
    o = _order(ids, logits)[:k]
    return ids[o], logits[o]


def softmax(logits: F32) -> npt.NDArray[np.float64]:
    x = logits.astype(np.float64)
    e = np.exp(x - x.max())
    out: npt.NDArray[np.float64] = e / e.sum()
    return out


def top_p(ids: I32, logits: F32, p: float, min_keep: int = 1) -> tuple[I32, F32]:
    """The smallest most-likely prefix whose probability reaches p (at least min_keep)."""
    if p >= 1.0:
        return ids, logits
    o = _order(ids, logits)
    probs = softmax(logits[o])
    cum = np.cumsum(probs)
    keep = len(o)
    for i in range(len(o)):
        if cum[i] >= p and i + 1 >= min_keep:
            keep = i + 1
            break
    o = o[:keep]
    return ids[o], logits[o]


def min_p(ids: I32, logits: F32, p: float, min_keep: int = 1) -> tuple[I32, F32]:
    """Tokens whose probability is at least p times the top one's (logit >= max + ln p)."""
    if p <= 0.0 or len(ids) == 0:
        return ids, logits
    threshold = np.float32(logits.max()) + np.float32(np.log(np.float32(p)))
    mask = logits >= threshold
    if mask.sum() >= max(1, min_keep):
        return ids[mask], logits[mask]
    o = _order(ids, logits)[: max(1, min_keep)]
    return ids[o], logits[o]


def temperature(logits: F32, t: float) -> F32:
    """Logits divided by t; t <= 0 keeps only the (first) maximum, the rest -inf."""
    if t <= 0:
        out = np.full_like(logits, -np.inf)
        i = int(np.argmax(logits))
        out[i] = logits[i]
        return out
    return (logits / np.float32(t)).astype(np.float32)
