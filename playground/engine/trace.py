"""What the sampler did to one token: kept with the token, so a reply records it all.

The trace holds a reference to the settings object that produced the token (no copy), so
a live change shows up as a different object from that token on.
"""

from __future__ import annotations

from dataclasses import dataclass

from playground.engine.settings import SamplerSettings


@dataclass(frozen=True, slots=True)
class TrickMove:
    """One trick's change to one token's logit."""

    name: str
    """"eos boost", "ban eos", "token style", "diversity", "logit bias" or "penalties"."""
    token: int
    delta: float
    """Added to the logit (-inf for a ban)."""


@dataclass(frozen=True, slots=True)
class SampleTrace:
    """The sampler's record for one drawn token."""

    settings: SamplerSettings
    """The settings object that produced this token."""
    prob_before: float
    """The token's probability under the raw logits (softmax, before any trick or sampler)."""
    prob_after: float
    """Its probability in the final distribution: the one the draw used, or for greedy the
    distribution after the tricks and penalties whose argmax greedy took."""
    moves: tuple[TrickMove, ...] = ()
    """The tricks (and penalties) that changed this token's logit, and by how much."""
    biggest: TrickMove | None = None
    """The largest change any trick made to any token at this step."""
    candidates: int = 0
    """How many tokens were left for the draw (1 for greedy)."""
    notes: tuple[str, ...] = ()
    """Settings that could not apply as asked, e.g. token-style pieces absent here."""

    def moved_by(self, name: str) -> float:
        """The total change `name` made to this token's logit (0.0 if none)."""
        return sum(m.delta for m in self.moves if m.name == name)
