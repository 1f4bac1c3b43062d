"""`playground compare` end to end: the CLI's JSON on the tiny pair, and the demo pair
(Gemma 3 270M base, 262k vocabulary, against SmolLM2-135M-Instruct, 49k) through the
cross-vocabulary path with real models."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from playground.analysis.compare import comparison_to_json, run_comparison
from playground.cli import compare_cmd
from playground.engine.llama.model import LlamaModel
from tests.test_shift import brute_force_logprobs
from tests.tiny_gguf import ALIGNED_REPLY_TEXT

BATCH_NOISE = 0.2
"""How far a Q4_K model's log-prob moves between decode shapes (0.16 nats measured)."""


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    compare_cmd.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


def test_cli_json_and_html_on_the_tiny_pair(
    tiny_pair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    page = tmp_path / "r.html"
    code = run_cli(
        [
            "compare",
            "--prompt",
            "hello",
            "--base",
            str(tiny_pair.base),
            "--aligned",
            str(tiny_pair.aligned),
            "--base-context",
            "raw",
            "--max-tokens",
            "20",
            "--json",
            "--html",
            str(page),
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["reply"] == ALIGNED_REPLY_TEXT
    assert out["base_reply"].startswith(" the cat sat on a mat")
    assert out["vocab"] == "shared"
    assert out["prompts"]["base"]["text"] == "hello"
    assert "<|im_start|>assistant" in out["prompts"]["aligned"]["text"]
    keys = {"piece", "aligned_logprob", "base_logprob", "base_rank", "class"}
    keys |= {"aligned_top", "base_top", "kl"}
    for t in out["tokens"]:
        assert keys <= set(t)
        expected = "unshifted" if t["base_rank"] == 1 else "marginal"
        expected = "shifted" if t["base_rank"] >= 4 else expected
        assert t["class"] == expected
        assert t["kl"] is not None and t["kl"] >= 0
    s = out["summary"]
    assert s["unshifted"] + s["marginal"] + s["shifted"] == len(out["tokens"])
    assert s["shifted_ratio"] == pytest.approx(s["shifted"] / len(out["tokens"]), abs=1e-6)
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_cli_refuses_an_unknown_base_context(tiny_pair) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit):
        run_cli(["compare", "--prompt", "x", "--base-context", "chatty"])


@pytest.mark.demo
def test_demo_pair_aligns_by_text(gemma: LlamaModel, smollm2: LlamaModel) -> None:
    c = run_comparison(gemma, smollm2, "Name three colors.", base_context="urial", max_tokens=16)
    a = c.analysis
    assert a.vocab == "aligned-by-text" and a.kl_method is None
    assert all(t.kl is None for t in a.tokens)
    # The rows cover the whole reply, byte for byte, in order.
    text = b"".join(t.piece for t in a.tokens if not t.special)
    assert text.decode() == c.aligned.text
    for t in a.tokens:
        if not t.approximate:  # exact pairing means the very same bytes
            assert t.other_piece == t.piece
    if c.aligned.ids[-1] in smollm2.vocab.eog:  # SmolLM2's <|im_end|> -> Gemma's own
        last = a.tokens[-1]
        assert last.special and last.approximate
        assert last.other_piece == b"<end_of_turn>"
    # Gemma's ranks, checked against a position-by-position brute force of its own
    # tokenization (whole prefix re-decoded per position; near-ties may swap under float
    # noise: Q4_K log-probs move with the batch shape and with what the KV cache already
    # holds, by up to 0.16 nats on Gemma 3 270M Q4_K_M between one batched decode and
    # token-by-token decoding, measured against llama-server, which matches the latter).
    ctx = list(c.base.prompt.ids)
    full = [*ctx, *a.scorer_ids]
    rows = brute_force_logprobs(Path(gemma.info.path), full, len(ctx), whole_prefix=True)
    assert len(rows) == len(a.scorer_ids)
    for t in a.tokens:
        r = rows[t.other_index]
        target = r[t.other_id]
        assert t.other_id == a.scorer_ids[t.other_index]
        lo = 1 + int(np.count_nonzero(r > target + BATCH_NOISE))
        hi = 1 + int(np.count_nonzero(r > target - BATCH_NOISE))
        assert lo <= t.other_rank <= hi, t
        assert t.other_logprob == pytest.approx(target, abs=BATCH_NOISE)
    out = comparison_to_json(c)
    assert out["vocab"] == "aligned-by-text" and out["base"] == gemma.info.name
