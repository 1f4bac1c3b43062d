"""Engine benchmark: streaming speed against a bare llama.cpp loop, scoring against prefill.

For each demo model, in one process and interleaved (so machine noise hits all alike):
  (a) a bare llama.cpp decode loop: low-level API, greedy argmax, nothing else (the ceiling);
  (b) the engine's stream with top-5 log-probabilities on;
  (c) llama-cpp-python's create_completion(stream=True), what a user would write first.
It reports tok/s and b/a (target >= 0.95), then scoring 256 tokens against a plain prefill
of the same tokens (target <= 1.2x), then the peak RSS with both models loaded.

Run: python bench/bench_engine.py [--reps N] [--tokens N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playground.config import load_config, resolve_model_path  # noqa: E402
from playground.engine.llama.model import LlamaModel, LoadOptions  # noqa: E402
from playground.engine.types import Finished, TokenEvent  # noqa: E402

PROMPT = "Here is a long list of animals, one per line, with a short note on each:\n1."
SCORE_TEXT = (
    "The river rises in the northern hills and runs south through farmland, past three "
    "market towns and a ruined abbey, before it widens into a broad estuary where wading "
    "birds feed at low tide. In the eighteenth century the lower reaches were straightened "
    "to carry barges of coal and grain, and the old towpath is now a footpath that walkers "
    "follow for most of its length. "
) * 6


def bare_loop(model: LlamaModel, prompt: list[int], n: int) -> float:
    """(a) llama_decode + numpy argmax, one token at a time. Returns tok/s."""
    import llama_cpp

    model.reset()
    ctx = model._ctx
    n_vocab = model.vocab.size
    arr = (llama_cpp.llama_token * len(prompt))(*prompt)
    if llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(arr, len(prompt))) != 0:
        raise RuntimeError("prompt decode failed")
    one = (llama_cpp.llama_token * 1)()
    t0 = time.perf_counter()
    for _ in range(n):
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))
        one[0] = int(np.argmax(logits))
        if llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(one, 1)) != 0:
            raise RuntimeError("decode failed")
    elapsed = time.perf_counter() - t0
    model.reset()  # the engine's own cache bookkeeping knows nothing of this loop
    return n / elapsed


def engine_stream(model: LlamaModel, prompt: list[int], n: int) -> tuple[float, int]:
    """(b) the engine: greedy, top-5 log-probabilities per token. Returns tok/s, tokens."""
    model.reset()
    done: Finished | None = None
    for item in model.stream(prompt, max_tokens=n, top_k=5):
        if isinstance(item, Finished):
            done = item
        else:
            assert isinstance(item, TokenEvent)
    assert done is not None
    return done.tok_per_s, done.tokens


def create_completion(model: LlamaModel, prompt: list[int], n: int) -> float:
    """(c) llama-cpp-python's high-level streaming API on the same Llama object."""
    llama = model._llama
    model.reset()
    llama.reset()
    stamps: list[float] = []
    with contextlib.redirect_stderr(io.StringIO()):
        for _chunk in llama.create_completion(
            prompt, max_tokens=n, temperature=0.0, stream=True, logprobs=None
        ):
            stamps.append(time.perf_counter())
    llama.reset()
    model.reset()
    if len(stamps) < 2:
        return float("nan")
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def prefill_s(model: LlamaModel, tokens: list[int]) -> float:
    t0 = time.perf_counter()
    model.prefill(tokens)
    return time.perf_counter() - t0


def prefill_all_logits_s(model: LlamaModel, tokens: list[int], first_out: int) -> float:
    """llama.cpp's floor for scoring: one prefill that computes logits at every position."""
    model.reset()
    t0 = time.perf_counter()
    pos = 0
    while pos < len(tokens):
        chunk = tokens[pos : pos + 64]
        model._decode(chunk, pos, lambda q: q >= first_out)
        pos += len(chunk)
    elapsed = time.perf_counter() - t0
    model.reset()
    return elapsed


def score_s(model: LlamaModel, context: list[int], cont: list[int]) -> float:
    model.reset()
    t0 = time.perf_counter()
    model.score(context, cont, top_k=5)
    return time.perf_counter() - t0


def bench_model(label: str, model: LlamaModel, reps: int, n_tokens: int) -> dict[str, Any]:
    prompt = model.tokenize(PROMPT, add_bos=model.vocab.add_bos)
    a: list[float] = []
    b: list[float] = []
    c: list[float] = []
    engine_stream(model, prompt, 8)  # warm-up
    for _ in range(reps):
        rate_b, got = engine_stream(model, prompt, n_tokens)
        b.append(rate_b)
        a.append(bare_loop(model, prompt, got))
        c.append(create_completion(model, prompt, got))
    context = model.tokenize("Text:", add_bos=model.vocab.add_bos)
    cont = model.tokenize(SCORE_TEXT)[:256]
    full = context + cont
    sc: list[float] = []
    pf: list[float] = []
    pfa: list[float] = []
    for _ in range(reps):
        sc.append(score_s(model, context, cont))
        pf.append(prefill_s(model, full))
        pfa.append(prefill_all_logits_s(model, full, len(context) - 1))
    med = statistics.median
    return {
        "model": label,
        "n_vocab": model.vocab.size,
        "a_bare_tok_s": med(a),
        "b_engine_tok_s": med(b),
        "c_create_completion_tok_s": med(c),
        "b_over_a": med(bi / ai for ai, bi in zip(a, b, strict=True)),
        "score_256_s": med(sc),
        "prefill_256_s": med(pf),
        "prefill_all_logits_256_s": med(pfa),
        "score_over_prefill": med(s / p for s, p in zip(sc, pf, strict=True)),
        "score_over_prefill_all_logits": med(s / p for s, p in zip(sc, pfa, strict=True)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    config = load_config(None)
    specs = [config.model(config.pair.base), config.model(config.pair.aligned)]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    models = [
        (s.name, LlamaModel(resolve_model_path(s), LoadOptions(n_ctx=1024, n_threads=2)))
        for s in specs
    ]
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows = [bench_model(name, m, args.reps, args.tokens) for name, m in models]
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"\nEngine benchmark ({args.reps} interleaved reps, {args.tokens} tokens, median)\n")
    head = (
        f"{'model':<28} {'vocab':>7} {'(a) bare':>9} {'(b) engine':>10} {'(c) compl.':>10}"
        f" {'b/a':>6}  {'score256':>8} {'prefill':>8} {'ratio':>6} {'vs all-logits':>13}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['model'][:28]:<28} {r['n_vocab']:>7} {r['a_bare_tok_s']:>9.1f}"
            f" {r['b_engine_tok_s']:>10.1f} {r['c_create_completion_tok_s']:>10.1f}"
            f" {r['b_over_a']:>6.3f}  {r['score_256_s']:>7.3f}s {r['prefill_256_s']:>7.3f}s"
            f" {r['score_over_prefill']:>6.2f} {r['score_over_prefill_all_logits']:>13.2f}"
        )
    print("\ntok/s columns; targets: b/a >= 0.95, score/prefill <= 1.2")
    print(
        f"peak RSS: {rss_before / 1024:.0f} MiB before loading, {rss_loaded / 1024:.0f} MiB with "
        f"both models loaded, {rss_peak / 1024:.0f} MiB peak during the benchmark"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "rss_peak_kib": rss_peak}, indent=2))
    for _, m in models:
        m.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
