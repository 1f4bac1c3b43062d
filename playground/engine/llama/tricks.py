"""The tricks that make a base model act a little aligned, as sparse logit biases.

The rule-based adapter (Hewitt et al. 2024) adds three rules to the base model's
log-probabilities: an EOS ramp, a fixed bias on 15 tokens, and a diversity penalty. The
post-training literature's point is that alignment mostly moves a few tokens, the end of
sequence above all, so a handful of sparse biases goes a fair way. Everything here is
computed once per sampler (mapping pieces to ids) or touches only a few ids per token, so
the per-token cost stays far below one decode step even at a 262k vocabulary.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from playground.engine.vocab import Vocab

IntArray = npt.NDArray[np.int32]

ADAPTER_TOKEN_STYLE: tuple[tuple[str, float], ...] = (
    ("<", -4.0),
    ("▁<", -4.0),
    ("|", -4.0),
    ("▁I", -5.0),
    ("I", -5.0),
    ("What", -5.0),
    ("▁We", -3.0),
    ("▁should", -6.0),
    ("▁*", 1.0),
    ("▁-", 1.0),
    ("▁▁▁", 1.0),
    ("▁#", 1.0),
    ("▁##", 1.0),
    ("<0x0A>", 1.0),
    ("!", 1.0),
)
"""The adapter's 15 token biases, by their Llama-2 SentencePiece pieces."""


def llama2_piece_text(piece: str) -> bytes:
    """The bytes a Llama-2 piece stands for: `▁` is a space, `<0x0A>` one raw byte."""
    if piece.startswith("<0x") and piece.endswith(">") and len(piece) == 6:
        return bytes([int(piece[3:5], 16)])
    return piece.replace("▁", " ").encode("utf-8")


def eos_ramp_value(length: int, rate: float, end: int) -> float:
    """The adapter's EOS ramp: rate * L for 0 < L < end, else 0.

    Args:
        length: L, the number of reply tokens generated so far.
    """
    return rate * length if 0 < length < end else 0.0


@dataclass(frozen=True)
class StyleMap:
    """The token-style rule mapped onto one vocabulary."""

    ids: IntArray
    """Every id that receives a bias (unique)."""
    biases: npt.NDArray[np.float32]
    """The bias per id, at strength 1."""
    mapped: tuple[tuple[str, tuple[int, ...]], ...]
    """(Llama-2 piece, ids in this vocabulary) for each piece found."""
    skipped: tuple[str, ...]
    """Llama-2 pieces whose text is no whole token in this vocabulary."""

    def note(self) -> str | None:
        """A line for the UI when some pieces do not exist in this vocabulary."""
        if not self.skipped:
            return None
        shown = ", ".join(repr(p.replace("▁", " ")) for p in self.skipped)
        return f"token-style rule: {len(self.skipped)} of 15 pieces are not tokens here: {shown}"


_cache_lock = threading.Lock()
_style_cache: dict[int, tuple[weakref.ref[Vocab], StyleMap]] = {}


def style_map(vocab: Vocab) -> StyleMap:
    """The token-style rule for this vocabulary (computed once per vocabulary)."""
    key = id(vocab)
    with _cache_lock:
        hit = _style_cache.get(key)
        if hit is not None and hit[0]() is vocab:
            return hit[1]
    bias: dict[int, float] = {}
    mapped: list[tuple[str, tuple[int, ...]]] = []
    skipped: list[str] = []
    for piece, value in ADAPTER_TOKEN_STYLE:
        ids = tuple(i for i in vocab.ids_of_piece(llama2_piece_text(piece)))
        if not ids:
            skipped.append(piece)
            continue
        mapped.append((piece, ids))
        for i in ids:
            bias[i] = bias.get(i, 0.0) + value
    ids_arr = np.fromiter(bias.keys(), dtype=np.int32, count=len(bias))
    vals = np.fromiter(bias.values(), dtype=np.float32, count=len(bias))
    result = StyleMap(ids_arr, vals, tuple(mapped), tuple(skipped))
    with _cache_lock:
        _style_cache[key] = (weakref.ref(vocab), result)
    return result


def text_bias_ids(
    vocab: Vocab, text: str, tokenize: Callable[[str], Sequence[int]] | None
) -> list[int]:
    """Ids a text bias applies to: every id whose piece is exactly the text, else the
    text's tokenization (as llama-server does), else none when no tokenizer is at hand."""
    exact = vocab.ids_of_piece(text.encode("utf-8"))
    if exact:
        return exact
    if tokenize is None:
        return []
    return list(dict.fromkeys(tokenize(text)))


# The user's turn begins at the last of these markers in the prompt (bytes of the pieces).
TURN_MARKERS: tuple[bytes, ...] = (
    b"<start_of_turn>user",
    b"<|im_start|>user",
    b"<|start_header_id|>user",
    b"<|user|>",
    b"[INST]",
    b"# Query:",
    b"### Instruction",
    b"User:",
)


def find_turn_start(prompt: Sequence[int], vocab: Vocab) -> int:
    """Index of the first token of the user's (last) turn in the prompt.

    The diversity rule counts every distinct token since the user's turn began: the
    instruction, the assistant tag and the reply. The turn starts at the token holding the
    last user marker of a known chat format (Gemma, ChatML, Llama 3, Mistral, URIAL's
    `# Query:`, a plain `User:`); with no marker the whole prompt after BOS is the turn.
    """
    pieces = vocab.pieces
    ends: list[int] = []
    total = 0
    for t in prompt:
        total += len(pieces[t])
        ends.append(total)
    text = b"".join(pieces[t] for t in prompt)
    at = max(text.rfind(m) for m in TURN_MARKERS)
    if at < 0:
        return 1 if prompt and vocab.bos is not None and prompt[0] == vocab.bos else 0
    # The first token whose bytes reach past the marker's first byte.
    lo, hi = 0, len(ends)
    while lo < hi:
        mid = (lo + hi) // 2
        if ends[mid] > at:
            hi = mid
        else:
            lo = mid + 1
    return lo
