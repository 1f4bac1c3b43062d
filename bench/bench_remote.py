"""Remote benchmark: streaming and scoring through llama-server (and vLLM when given).

For each demo model, one llama-server on 127.0.0.1 (built by scripts/build_llama_server.sh),
measured in one process and interleaved so machine noise hits all alike:
  (a) llama-server's own stream, no probabilities: a bare SSE reader, greedy (the ceiling);
  (b) the llama-server backend's stream with top-5 (exact bytes, every token's event);
  (c) llama-server's own stream with n_probs 5, read bare: what the server itself pays for
      the probabilities (a full-vocabulary softmax per token), which no client can avoid.
It reports tok/s, b/a (target >= 0.9) and b/c (the backend's own cost). Then scoring 256
tokens: the time and the number of HTTP requests per backend, beside in-process (one
batched decode, no requests). With --vllm-url URL (a running vLLM serving the same model,
--vllm-model NAME), vLLM's scoring is measured too.

Run: python bench/bench_remote.py [--reps N] [--tokens N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playground.config import load_config, resolve_model_path  # noqa: E402
from playground.engine.remote import Endpoint, open_server  # noqa: E402
from playground.engine.remote.http import HttpClient  # noqa: E402
from playground.engine.types import Finished  # noqa: E402
from tests.servers import llama_server, llama_server_binary  # noqa: E402

PROMPT = "Here is a long list of animals, one per line, with a short note on each:\n1."
SCORE_TEXT = (
    "The river rises in the northern hills and runs south through farmland, past three "
    "market towns and a ruined abbey, before it widens into a broad estuary where wading "
    "birds feed at low tide. In the eighteenth century the lower reaches were straightened "
    "to carry barges of coal and grain, and the old towpath is now a footpath that walkers "
    "follow for most of its length. "
) * 6


def raw_stream(client: HttpClient, prompt: list[int], n: int, n_probs: int = 0) -> float:
    """(a) llama-server's stream without probabilities, or (c) with n_probs, read bare.
    Returns tok/s."""
    body: dict[str, Any] = {
        "prompt": prompt,
        "n_predict": n,
        "stream": True,
        "cache_prompt": True,
        "temperature": 0.0,
        "ignore_eos": True,
    }
    if n_probs:
        body["n_probs"] = n_probs
    count = 0
    first = last = 0.0
    events = client.stream("/completion", body)
    for ev in events:
        if ev.get("stop"):
            events.finished = True
            continue
        now = time.perf_counter()
        if count == 0:
            first = now
        last = now
        count += 1
    return (count - 1) / (last - first) if count > 1 else 0.0


def backend_stream(model: Any, prompt: list[int], n: int) -> float:
    """(b) the backend's stream with top-5. Returns tok/s over the same span as (a)."""
    from playground.engine.settings import SamplerSettings

    ban_eog = SamplerSettings(logit_bias=tuple((t, -1e9) for t in model.vocab.eog))
    count = 0
    first = last = 0.0
    for item in model.stream(prompt, settings=ban_eog, max_tokens=n, top_k=5):
        if isinstance(item, Finished):
            break
        now = time.perf_counter()
        if count == 0:
            first = now
        last = now
        count += 1
    return (count - 1) / (last - first) if count > 1 else 0.0


def bench_model(label: str, path: Path, reps: int, tokens: int, work: Path) -> dict[str, Any]:
    from playground.engine.llama import LlamaModel, LoadOptions

    threads = max(1, os.cpu_count() or 2)
    with llama_server(path, n_ctx=2048, threads=threads, workdir=work) as server:
        model = open_server("llama-server", Endpoint(server.url))
        raw = HttpClient(Endpoint(server.url))
        prompt = model.tokenize(PROMPT, add_bos=True)
        raw_stream(raw, prompt, 4)  # warm the cache and the server
        a: list[float] = []
        b: list[float] = []
        c: list[float] = []
        for _ in range(reps):
            a.append(raw_stream(raw, prompt, tokens))
            b.append(backend_stream(model, prompt, tokens))
            c.append(raw_stream(raw, prompt, tokens, n_probs=5))
        text = model.tokenize(SCORE_TEXT)
        context, cont = text[:8], text[8 : 8 + 256]
        model.client.requests = 0
        t0 = time.perf_counter()
        model.score(context, cont, top_k=5)
        remote_s = time.perf_counter() - t0
        remote_requests = model.client.requests
        model.close()
        raw.close()
    local = LlamaModel(path, LoadOptions(n_ctx=2048, n_threads=threads))
    t0 = time.perf_counter()
    local.score(context, cont, top_k=5)
    local_s = time.perf_counter() - t0
    local.close()
    ra, rb, rc = statistics.median(a), statistics.median(b), statistics.median(c)
    return {
        "model": label,
        "raw_tok_s": ra,
        "backend_tok_s": rb,
        "raw_probs_tok_s": rc,
        "ratio": rb / ra if ra else 0.0,
        "ratio_to_probs": rb / rc if rc else 0.0,
        "score_tokens": len(cont),
        "score_llama_server_s": remote_s,
        "score_llama_server_requests": remote_requests,
        "score_in_process_s": local_s,
        "score_in_process_requests": 0,
    }


def bench_vllm(url: str, name: str | None, model_label: str) -> dict[str, Any]:
    model = open_server("vllm", Endpoint(url, read_timeout=600), name)
    text = model.tokenize(SCORE_TEXT)
    context, cont = text[:8], text[8 : 8 + 256]
    model.score(context, cont[:4], top_k=5)  # the first request compiles and warms up
    model.client.requests = 0  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    model.score(context, cont, top_k=5)
    elapsed = time.perf_counter() - t0
    requests = model.client.requests  # type: ignore[attr-defined]
    model.close()
    return {"model": model_label, "score_vllm_s": elapsed, "score_vllm_requests": requests}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--vllm-url", help="a running vLLM to score against as well")
    parser.add_argument("--vllm-model", help="the model's name on that vLLM")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    if llama_server_binary() is None:
        print("llama-server is not built: run scripts/build_llama_server.sh first")
        return 2
    config = load_config(None)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mid in (config.pair.base, config.pair.aligned):
            spec = config.model(mid)
            rows.append(
                bench_model(spec.name, resolve_model_path(spec), args.reps, args.tokens, Path(tmp))
            )
    print(f"\nRemote benchmark ({args.reps} interleaved reps, {args.tokens} tokens, median)\n")
    head = (
        f"{'model':<28} {'(a) server':>11} {'(b) backend':>12} {'(c) +probs':>11} "
        f"{'b/a':>6} {'c/a':>6} {'b/c':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['model']:<28} {r['raw_tok_s']:>11.1f} {r['backend_tok_s']:>12.1f} "
            f"{r['raw_probs_tok_s']:>11.1f} {r['ratio']:>6.2f} "
            f"{r['raw_probs_tok_s'] / r['raw_tok_s']:>6.2f} {r['ratio_to_probs']:>6.2f}"
        )
    print("\ntok/s columns; target: b/a >= 0.9 (c/a is the server's own price for top-5)")
    print(f"\nScoring {rows[0]['score_tokens']} tokens: seconds (requests)")
    for r in rows:
        print(
            f"  {r['model']:<28} in-process {r['score_in_process_s']:.2f} s (0)   "
            f"llama-server {r['score_llama_server_s']:.2f} s "
            f"({r['score_llama_server_requests']})"
        )
    if args.vllm_url:
        v = bench_vllm(args.vllm_url, args.vllm_model, args.vllm_model or "vLLM model")
        rows.append(v)
        print(f"  {v['model']:<28} vLLM {v['score_vllm_s']:.2f} s ({v['score_vllm_requests']})")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
