"""The sampler: the tricks in numpy, then llama.cpp's own sampler chain.

The engine reads each position's logits zero-copy and hands them here. The tricks are
sparse biases added in numpy; everything else (logit bias, penalties, DRY, top-k, top-p,
min-p, temperature, the draw) runs through llama.cpp's sampler objects, in
llama-cpp-python's order, so the semantics are exactly llama.cpp's.

The adapter's rules are defined on log-probabilities (log_softmax(logits) + bias). When any
of them is on, the chain starts from log_softmax(logits) instead of the raw logits. Only
the repetition penalty can tell the two apart (it divides positive values), and with the
adapter's rules on no value is positive, so the penalty then always multiplies.

Per token the cost is one pass over the vocabulary to fill llama.cpp's candidate array,
one log-sum-exp (the probability before the chain), a few sparse updates, and llama.cpp's
own work. No per-token Python loop touches the whole vocabulary.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from playground.engine.llama.tricks import (
    IntArray,
    eos_ramp_value,
    find_turn_start,
    style_map,
    text_bias_ids,
)
from playground.engine.settings import RANDOM_SEED, SamplerSettings
from playground.engine.topk import FloatArray, logsumexp
from playground.engine.trace import SampleTrace, TrickMove
from playground.engine.vocab import Vocab

TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])
"""llama_token_data's layout, so numpy can fill llama.cpp's candidate array in place."""

PRUNE_NATS = 40.0
"""Before llama.cpp's truncating chain, candidates more than PRUNE_NATS x max(T, 1) below
the top are dropped: each has under e^-40 of the top's probability both before the
temperature (what top-p and min-p see) and after it, so together (262k of them) under
1e-12. That changes no result in practice, and spares llama.cpp's samplers most of the
vocabulary."""

_DRAW_BLOCK = 512

WHOLE_CONTEXT_FALLBACK = 32768
"""Window used for "-1 = whole context" when the model's training context is unknown."""


@dataclass(frozen=True, slots=True)
class Sampled:
    token: int
    prob_after: float
    """The token's probability in the distribution the final draw used (see SampleTrace)."""
    trace: Any = None


@dataclass(frozen=True)
class SamplerContext:
    """What a sampler needs to know besides its settings: the history and the model."""

    prompt: Sequence[int] = ()
    generated: Sequence[int] = ()
    """The reply so far: a sampler built mid-stream is primed with it."""
    turn_start: int | None = None
    """Index in the prompt where the user's turn begins (diversity rule); None finds it
    from the chat markers in the prompt (see tricks.find_turn_start)."""
    vocab_ptr: Any = None
    """llama.cpp's vocab pointer: DRY needs it to tokenize its sequence breakers."""
    n_ctx_train: int = 0
    tokenize: Callable[[str], Sequence[int]] | None = field(default=None)
    """Text to ids, for a text logit bias whose text is no single piece."""


def _lc() -> Any:
    import llama_cpp

    return llama_cpp


def _whole(n: int, ctx: SamplerContext) -> int:
    return n if n >= 0 else (ctx.n_ctx_train or WHOLE_CONTEXT_FALLBACK)


class Sampler:
    """Draws one token per call. Not thread-safe: one per generation (or settings change)."""

    def __init__(
        self,
        settings: SamplerSettings,
        vocab: Vocab | int,
        context: SamplerContext | None = None,
    ) -> None:
        lc = _lc()
        self._lc = lc
        ctx = context or SamplerContext()
        self.settings = s = settings
        self._n = n = vocab if isinstance(vocab, int) else vocab.size
        notes: list[str] = []
        eog = frozenset() if isinstance(vocab, int) else vocab.eog
        self._eog_set = eog
        self._eog = np.array(sorted(eog), dtype=np.int32)
        self._generated = len(ctx.generated)

        # --- the tricks, as sparse biases
        self._style: dict[int, float] = {}
        self._style_ids = np.empty(0, dtype=np.int32)
        self._style_vals = np.empty(0, dtype=np.float32)
        if s.token_style != 0.0 and isinstance(vocab, Vocab):
            sm = style_map(vocab)
            self._style_ids = sm.ids
            self._style_vals = (sm.biases * np.float32(s.token_style)).astype(np.float32)
            self._style = dict(zip(sm.ids.tolist(), self._style_vals.tolist(), strict=True))
            note = sm.note()
            if note:
                notes.append(note)
        if (s.eos_bias or s.eos_ramp or s.ban_eos) and not eog:
            notes.append("EOS tricks: this vocabulary has no end-of-generation token")
        self._bias: dict[int, float] = {}
        for tok, b in s.logit_bias:
            if 0 <= tok < n:
                self._bias[tok] = self._bias.get(tok, 0.0) + b
            else:
                notes.append(f"logit bias: id {tok} is outside the vocabulary (0..{n - 1})")
        for text, b in s.logit_bias_text:
            ids = text_bias_ids(vocab, text, ctx.tokenize) if isinstance(vocab, Vocab) else []
            if not ids:
                notes.append(f"logit bias: {text!r} maps to no token here")
            for tok in ids:
                self._bias[tok] = self._bias.get(tok, 0.0) + b
        self._seen: set[int] = set()
        self._seen_list: list[int] = []
        self._seen_arr = np.empty(0, dtype=np.int32)
        if s.diversity != 0.0:
            start = ctx.turn_start
            if start is None:
                start = find_turn_start(ctx.prompt, vocab) if isinstance(vocab, Vocab) else 0
            for t in (*ctx.prompt[start:], *ctx.generated):
                self._see(t)
        self._normalize = s.adapter_rules_on
        self._static_biggest = self._biggest_static()

        # --- llama.cpp's samplers. Logit bias, penalties and DRY only ever change the
        # ids they were given or saw in the history, one by one, so they run on a small
        # array of those ids (the same llama.cpp code, O(window) instead of O(vocab));
        # the rest of the chain runs on the whole vocabulary.
        self._hist: list[int] = []
        self._window = _whole(s.penalty_last_n, ctx) if s.penalties_on else 0
        self._dry_window = _whole(s.dry_penalty_last_n, ctx) if s.dry_on else 0
        self._scratch = np.empty(n, dtype=np.float32)
        self._work = np.empty(n, dtype=np.float32)
        self._main: Any = None
        self._bias_ids = np.fromiter(self._bias.keys(), dtype=np.int32, count=len(self._bias))
        self._pre: Any = self._build_pre(s, ctx, notes)
        if self._pre is not None and (s.penalties_on or s.dry_on):
            history = list(ctx.generated)
            if s.penalty_source == "prompt+reply":
                history = [*ctx.prompt, *history]
            for t in history:
                lc.llama_sampler_accept(self._pre, t)
            self._hist = history
        # Temperature alone, nothing truncating: the draw is from softmax(work / T) over the
        # whole vocabulary. llama.cpp's dist sampler costs 2.5 ms at 262k tokens there (25%
        # of a Gemma step); an inverse-CDF draw in numpy from the same distribution costs a
        # fifth of that. The distribution is llama.cpp's; the seed -> token stream is numpy's.
        self._numpy_draw = not s.greedy and s.top_k <= 0 and s.top_p >= 1.0 and s.min_p <= 0.0
        self._rng = np.random.default_rng(None if s.seed == RANDOM_SEED else s.seed)
        self._block_starts = np.arange(0, n, _DRAW_BLOCK)
        if not s.greedy and not self._numpy_draw:
            self._main = self._build_main(s)
            self._cdata = (lc.llama_token_data * n)()
            self._data = np.frombuffer(memoryview(self._cdata), dtype=TOKEN_DATA)
            self._array = lc.llama_token_data_array(
                data=self._cdata, size=n, selected=-1, sorted=False
            )
        self._small = (lc.llama_token_data * 1)()
        self._touches = bool(
            self._normalize
            or self._style
            or s.eos_bias
            or s.ban_eos
            or s.diversity
            or self._pre is not None
        )
        self.notes = tuple(notes)

    # ------------------------------------------------------------------ construction

    def _build_pre(self, s: SamplerSettings, ctx: SamplerContext, notes: list[str]) -> Any:
        """Logit bias, penalties, DRY: the samplers that touch known ids only."""
        lc = self._lc
        parts: list[Any] = []
        if self._bias:
            arr = (lc.llama_logit_bias * len(self._bias))()
            for i, (tok, b) in enumerate(self._bias.items()):
                arr[i].token = tok
                arr[i].bias = b
            parts.append(lc.llama_sampler_init_logit_bias(self._n, len(self._bias), arr))
        if s.penalties_on:
            parts.append(
                lc.llama_sampler_init_penalties(
                    self._n,
                    self._window,
                    s.repeat_penalty,
                    s.frequency_penalty,
                    s.presence_penalty,
                )
            )
        if s.dry_on:
            if ctx.vocab_ptr is None:
                notes.append("DRY is off: it needs the model's vocabulary (use factory_for(model))")
                self._dry_window = 0
            else:
                breakers = [b.encode("utf-8") for b in s.dry_sequence_breakers]
                c_breakers = (ctypes.c_char_p * max(1, len(breakers)))(*breakers)
                parts.append(
                    lc.llama_sampler_init_dry(
                        ctx.vocab_ptr,
                        s.dry_multiplier,
                        s.dry_base,
                        s.dry_allowed_length,
                        self._dry_window,
                        c_breakers,
                        len(breakers),
                    )
                )
        if not parts:
            return None
        chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        for part in parts:
            lc.llama_sampler_chain_add(chain, part)
        return chain

    def _build_main(self, s: SamplerSettings) -> Any:
        """top-k, top-p, min-p, temperature, the draw: llama-cpp-python's order."""
        lc = self._lc
        chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        add = lc.llama_sampler_chain_add
        if s.top_k > 0:
            add(chain, lc.llama_sampler_init_top_k(s.top_k))
        if s.top_p < 1.0:
            add(chain, lc.llama_sampler_init_top_p(s.top_p, 1))
        if s.min_p > 0.0:
            add(chain, lc.llama_sampler_init_min_p(s.min_p, 1))
        add(chain, lc.llama_sampler_init_temp(s.temperature))
        add(chain, lc.llama_sampler_init_dist(s.seed))
        return chain

    def _see(self, token: int) -> None:
        if token not in self._seen:
            self._seen.add(token)
            self._seen_list.append(token)
            self._seen_arr = np.empty(0, dtype=np.int32)  # rebuilt lazily

    def _biggest_static(self) -> TrickMove | None:
        best: TrickMove | None = None
        for name, table in (("token style", self._style), ("logit bias", self._bias)):
            for tok, d in table.items():
                if best is None or abs(d) > abs(best.delta):
                    best = TrickMove(name, tok, d)
        return best

    # ------------------------------------------------------------------ per token

    @property
    def reply_length(self) -> int:
        """L: reply tokens accepted so far (the EOS ramp's argument)."""
        return self._generated

    def _eos_delta(self) -> float:
        s = self.settings
        return s.eos_bias + eos_ramp_value(self._generated, s.eos_ramp, s.eos_ramp_end)

    def _pre_ids(self) -> IntArray:
        """The ids logit bias, penalties and DRY can change at this step (unique)."""
        parts = [self._bias_ids]
        w = max(self._window, self._dry_window)
        if w and self._hist:
            parts.append(np.asarray(self._hist[-w:], dtype=np.int32))
        return np.unique(np.concatenate(parts)) if len(parts) > 1 else parts[0]

    def _apply_pre(self, work: FloatArray) -> IntArray:
        """Run logit bias, penalties and DRY on the ids they can touch; returns those ids."""
        ids = self._pre_ids()
        m = int(ids.shape[0])
        if m == 0:
            return ids
        lc = self._lc
        if len(self._small) < m:
            self._small = (lc.llama_token_data * max(m, 2 * len(self._small)))()
        small = np.frombuffer(memoryview(self._small), dtype=TOKEN_DATA)[:m]
        small["id"] = ids
        small["logit"] = work[ids]
        small["p"] = 0.0
        arr = lc.llama_token_data_array(data=self._small, size=m, selected=-1, sorted=False)
        lc.llama_sampler_apply(self._pre, ctypes.byref(arr))
        work[small["id"]] = small["logit"]
        return ids

    def sample(self, logits: FloatArray, lse: float | None = None) -> Sampled:
        """Draw one token. `lse` is logsumexp(logits) when the caller already has it (the
        engine does): at 262k tokens it is a third of the sampler's own cost."""
        s = self.settings
        if lse is None:
            lse = logsumexp(logits, self._scratch)
        if not self._touches and s.greedy:
            tok = int(np.argmax(logits))
            p = math.exp(float(logits[tok]) - lse)
            return Sampled(tok, p, SampleTrace(s, p, p, candidates=1, notes=self.notes))
        work = self._work
        shift = np.float32(lse) if self._normalize else np.float32(0.0)
        np.subtract(logits, shift, out=work)
        changed = [self._style_ids]
        if self._style_ids.size:
            work[self._style_ids] += self._style_vals
        eos_delta = self._eos_delta()
        if (eos_delta or s.ban_eos) and self._eog.size:
            changed.append(self._eog)
            if eos_delta:
                work[self._eog] += np.float32(eos_delta)
        if s.diversity and self._seen_list:
            if self._seen_arr.size != len(self._seen_list):
                self._seen_arr = np.array(self._seen_list, dtype=np.int32)
            work[self._seen_arr] -= np.float32(s.diversity)
            changed.append(self._seen_arr)
        if s.ban_eos and self._eog.size:
            work[self._eog] = -np.inf
        if self._pre is not None:
            changed.append(self._apply_pre(work))
        if s.greedy:
            tok = int(np.argmax(work))
            # Only the changed ids differ from the raw distribution, so the normalizer of
            # the final one is a sparse correction: no second pass over the vocabulary.
            ids = np.unique(np.concatenate(changed))
            before = logits[ids].astype(np.float64) - lse
            after = work[ids].astype(np.float64) - (0.0 if self._normalize else lse)
            z = 1.0 + float(np.exp(after).sum() - np.exp(before).sum())
            f_tok = float(work[tok]) - (0.0 if self._normalize else lse)
            p_after = math.exp(f_tok) / z if z > 0 else 1.0
            candidates = 1
        elif self._numpy_draw:
            tok, p_after, candidates = self._draw_numpy(work, s.temperature)
        else:
            data = self._data
            top = float(work.max())
            # top-p and min-p see the distribution before the temperature: cut in raw nats
            keep = np.flatnonzero(work >= top - PRUNE_NATS * max(s.temperature, 1.0))
            n_keep = int(keep.size)
            data["id"][:n_keep] = keep
            data["logit"][:n_keep] = work[keep]
            arr = self._array
            arr.data = self._cdata
            arr.size = n_keep
            arr.selected = -1
            arr.sorted = False
            self._lc.llama_sampler_apply(self._main, ctypes.byref(arr))
            # Read through arr.data: a sampler may point the array at its own buffer.
            item = arr.data[int(arr.selected)]
            tok = int(item.id)
            p_after = float(item.p)
            candidates = int(arr.size)
        p_before = math.exp(float(logits[tok]) - lse)
        trace = SampleTrace(
            settings=s,
            prob_before=p_before,
            prob_after=p_after,
            moves=self._moves(tok, float(logits[tok]) - float(shift)),
            biggest=self._biggest(eos_delta),
            candidates=candidates,
            notes=self.notes,
        )
        return Sampled(tok, p_after, trace)

    def _draw_numpy(self, work: FloatArray, temperature: float) -> tuple[int, float, int]:
        """Inverse-CDF draw from softmax(work / T), in blocks: sum per block, find the block,
        then walk inside it. No cumulative sum over the whole vocabulary."""
        w = self._scratch
        np.subtract(work, np.float32(work.max()), out=w)
        np.multiply(w, np.float32(1.0 / temperature), out=w)
        np.exp(w, out=w)
        sums = np.add.reduceat(w, self._block_starts, dtype=np.float64)
        cum = np.cumsum(sums)
        total = float(cum[-1])
        u = self._rng.random() * total
        b = min(int(np.searchsorted(cum, u, side="right")), len(sums) - 1)
        start = int(self._block_starts[b])
        inner = np.cumsum(w[start : start + _DRAW_BLOCK], dtype=np.float64)
        offset = u - (float(cum[b - 1]) if b else 0.0)
        j = min(int(np.searchsorted(inner, offset, side="right")), inner.shape[0] - 1)
        tok = start + j
        return tok, float(w[tok]) / total, int(np.count_nonzero(w))

    def _moves(self, tok: int, base: float) -> tuple[TrickMove, ...]:
        s = self.settings
        moves: list[TrickMove] = []
        if tok in self._style:
            moves.append(TrickMove("token style", tok, self._style[tok]))
        if tok in self._eog_set:
            eos_delta = self._eos_delta()
            if eos_delta:
                moves.append(TrickMove("eos boost", tok, eos_delta))
            if s.ban_eos:
                moves.append(TrickMove("ban eos", tok, -math.inf))
        if s.diversity and tok in self._seen:
            moves.append(TrickMove("diversity", tok, -s.diversity))
        if tok in self._bias:
            moves.append(TrickMove("logit bias", tok, self._bias[tok]))
        if s.penalties_on:
            count = self._hist[-self._window :].count(tok)
            if count:
                x = np.float32(base + sum(m.delta for m in moves))
                y = penalize(x, count, s.repeat_penalty, s.frequency_penalty, s.presence_penalty)
                moves.append(TrickMove("penalties", tok, float(y - x)))
        return tuple(moves)

    def _biggest(self, eos_delta: float) -> TrickMove | None:
        s = self.settings
        best = self._static_biggest
        cands: list[TrickMove] = []
        if self._eog.size:
            if s.ban_eos:
                cands.append(TrickMove("ban eos", int(self._eog[0]), -math.inf))
            elif eos_delta:
                cands.append(TrickMove("eos boost", int(self._eog[0]), eos_delta))
        if s.diversity and self._seen_list:
            cands.append(TrickMove("diversity", self._seen_list[0], -s.diversity))
        for c in cands:
            if best is None or abs(c.delta) > abs(best.delta):
                best = c
        return best

    def accept(self, token: int) -> None:
        if self._pre is not None:
            self._lc.llama_sampler_accept(self._pre, token)
            if self._window or self._dry_window:
                self._hist.append(token)
        if self._main is not None:
            self._lc.llama_sampler_accept(self._main, token)
        self._generated += 1
        if self.settings.diversity:
            self._see(token)

    def close(self) -> None:
        for name in ("_pre", "_main"):
            chain = getattr(self, name, None)
            if chain is not None:
                self._lc.llama_sampler_free(chain)
                setattr(self, name, None)

    def __del__(self) -> None:
        self.close()


def penalize(
    x: np.float32, count: int, repeat: float, frequency: float, presence: float
) -> np.float32:
    """llama.cpp's penalty on one logit seen `count` times in the window (float32 math)."""
    if count <= 0:
        return x
    r = np.float32(repeat)
    y = x * r if x <= 0 else x / r
    return np.float32(y - (np.float32(count) * np.float32(frequency) + np.float32(presence)))


@dataclass(frozen=True)
class Candidates:
    """What a llama.cpp sampler left: the candidates in array order, and the pick."""

    ids: np.ndarray[Any, np.dtype[np.int32]]
    logits: FloatArray
    p: FloatArray
    selected: int
    sorted: bool


def apply_llama_sampler(smpl: Any, logits: FloatArray, accepted: Sequence[int] = ()) -> Candidates:
    """Run one llama.cpp sampler (or chain) on dense logits, after accepting `accepted`.

    Used by the tests to compare the numpy reference with llama.cpp's own samplers.
    """
    lc = _lc()
    for t in accepted:
        lc.llama_sampler_accept(smpl, t)
    n = logits.shape[0]
    cdata = (lc.llama_token_data * n)()
    data = np.frombuffer(memoryview(cdata), dtype=TOKEN_DATA)
    data["id"] = np.arange(n, dtype=np.int32)
    data["logit"] = logits
    data["p"] = 0.0
    arr = lc.llama_token_data_array(data=cdata, size=n, selected=-1, sorted=False)
    lc.llama_sampler_apply(smpl, ctypes.byref(arr))
    size = int(arr.size)
    out = np.frombuffer(
        (lc.llama_token_data * size).from_address(ctypes.addressof(arr.data.contents)),
        dtype=TOKEN_DATA,
    ).copy()
    return Candidates(out["id"], out["logit"], out["p"], int(arr.selected), bool(arr.sorted))
