"""A drawn token's probability after llama.cpp's sampler chain, from a server's top-k.

A server reports one distribution per request: llama-server's `n_probs` the one before the
sampler (what the playground shows and the shift analysis needs), `post_sampling_probs` the
one after it, never both. The one after the chain follows from the one before wherever the
chain's kept set lies inside the top-k the server sent: top-k, then top-p and min-p on what
is left (renormalized), then the temperature over the kept set, as llama.cpp orders them
(and as the in-process sampler does). Where the kept set reaches past the top-k (a
temperature with no truncation, a top-p the list does not reach), or the logits were
changed on the server in ways the list does not show (penalties, DRY, a bias on a token
outside it), the answer is unknown, and NaN says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from playground.engine.settings import SamplerSettings
from playground.engine.types import TopEntry

MIN_KEEP = 1
"""llama.cpp's min_keep: top-p and min-p always keep at least this many."""


def prob_after_chain(
    top: Sequence[TopEntry],
    token: int,
    logprob: float,
    s: SamplerSettings,
    bias: Mapping[int, float] | None = None,
) -> float:
    """The drawn token's probability in the distribution the final draw used.

    Args:
        top: the position's top list before the sampler (full-vocabulary log-probs).
        token: the token that was drawn.
        logprob: its log-probability before the sampler.
        s: the settings the server sampled with.
        bias: the logit biases the server applied, by token id (s.logit_bias and
            s.logit_bias_text, resolved); -inf bans.

    Returns:
        A probability in (0, 1], or NaN where the top list cannot decide it.
    """
    if s.eos_bias or s.ban_eos or s.penalties_on or s.dry_on or s.adapter_rules_on:
        return math.nan
    if s.greedy:
        return _greedy(top, token, logprob, bias or {})
    if bias:
        return math.nan  # a bias can lift an unlisted token into the kept set
    ranked = sorted(top, key=lambda e: e.logprob, reverse=True)
    probs = [math.exp(e.logprob) for e in ranked]
    decided = False
    cur = probs
    if s.top_k > 0:
        if s.top_k > len(probs):
            return math.nan
        cur, decided = probs[: s.top_k], True
    if s.top_p < 1.0:
        z = sum(cur) if decided else 1.0  # before any cut the list is over the whole vocab
        cum, cut = 0.0, None
        for i, p in enumerate(cur):
            cum += p / z
            if cum >= s.top_p and i + 1 >= MIN_KEEP:
                cut = i + 1
                break
        if cut is None and not decided:
            return math.nan
        if cut is not None:
            cur, decided = cur[:cut], True
    if s.min_p > 0.0 and cur:
        kept = max(MIN_KEEP, sum(1 for p in cur if p >= cur[0] * s.min_p))
        if kept == len(cur) and not decided:
            return math.nan  # every listed token passes: the cut lies beyond the list
        cur, decided = cur[:kept], True
    if not decided:
        return math.nan
    at = next((i for i, e in enumerate(ranked[: len(cur)]) if e.id == token), None)
    if at is None:
        return math.nan
    # p ** (1 / T), in log space so that far tails do not underflow
    lps = [e.logprob for e in ranked[: len(cur)]]
    weights = [math.exp((lp - lps[0]) / s.temperature) for lp in lps]
    return weights[at] / sum(weights)


def _greedy(
    top: Sequence[TopEntry], token: int, logprob: float, bias: Mapping[int, float]
) -> float:
    """The arg-max's probability once the biases moved the distribution: only the biased
    ids change, so the normalizer is 1 plus their change, known where all are listed."""
    if not bias:
        return math.exp(logprob)
    listed = {e.id: e.logprob for e in top}
    listed[token] = logprob
    if any(t not in listed for t in bias):
        return math.nan
    z = 1.0 + sum(math.exp(listed[t]) * (math.exp(b) - 1.0) for t, b in bias.items())
    p = math.exp(logprob + bias.get(token, 0.0))
    return p / z if z > 0 else math.nan
