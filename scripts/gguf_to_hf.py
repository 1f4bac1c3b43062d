"""Convert a GGUF model into a Hugging Face safetensors folder that vLLM can serve.

vLLM's GGUF support needs CUDA to dequantize, so on a CPU the demo models are served from a
float32 Hugging Face folder instead. transformers reads the GGUF already dequantized, for the
model and for its tokenizer; `save_pretrained` refuses a model loaded from GGUF until its
quantizer marker and `config.quantization_config` are cleared.

Two things transformers' conversion gets wrong or vLLM's CPU cannot run, mended here:
- The tokenizer loses two GGUF settings: `tokenizer.ggml.add_space_prefix = false` (it
  prepends "▁" to the first word anyway, so "日" became "▁" + "日") and
  `tokenizer.ggml.add_bos_token` (the converted tokenizer adds no BOS, and a client reading
  `tokenizer_config.json` would not know that the model wants one). Both are written back,
  and the end-of-turn token joins `eos_token_id` in `generation_config.json`.
- vLLM's CPU attention supports head sizes from 32 up, and the tests' tiny models have 16.
  The heads are padded with zeros to 32, with the query scaled by sqrt(32/16) and the RoPE
  base raised to base**(32/16), so the padded model computes the same function.

Run inside the vLLM environment (it has transformers, gguf and accelerate):
    python scripts/gguf_to_hf.py MODEL.gguf OUT_FOLDER
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path
from typing import Any

MIN_HEAD_DIM = 32
"""The smallest head size vLLM's CPU attention backend supports (0.32)."""

VERSION = 2
"""Bumped when the conversion changes, so a folder an older version cached is made again."""
MARKER = f".gguf_to_hf-{VERSION}"


def _gguf_field(gguf: Path, name: str) -> Any:
    from gguf import GGUFReader

    field = GGUFReader(gguf).get_field(name)
    return None if field is None else field.contents()


def _pad_heads(model: Any, head_dim: int) -> None:
    """Zero-pad every attention head from config.head_dim to head_dim, same function."""
    import torch

    cfg = model.config
    d = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads)
    if d >= head_dim:
        return
    n_q, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
    half, new_half = d // 2, head_dim // 2

    def rope_heads(w: torch.Tensor, n: int, scale: float) -> torch.Tensor:
        # HF's rotate_half pairs dim i with i + d/2: keep both halves at the start of the
        # new halves, so each pair still rotates together.
        old = w.reshape(n, d, -1)
        new = torch.zeros(n, head_dim, old.shape[-1], dtype=w.dtype)
        new[:, :half] = old[:, :half] * scale
        new[:, new_half : new_half + half] = old[:, half:] * scale
        return new.reshape(n * head_dim, -1)

    with torch.no_grad():
        for layer in model.model.layers:
            attn = layer.self_attn
            for proj, n, scale in (
                (attn.q_proj, n_q, math.sqrt(head_dim / d)),
                (attn.k_proj, n_kv, 1.0),
            ):
                proj.weight = torch.nn.Parameter(rope_heads(proj.weight, n, scale))
            v = attn.v_proj.weight.reshape(n_kv, d, -1)
            pv = torch.zeros(n_kv, head_dim, v.shape[-1], dtype=v.dtype)
            pv[:, :d] = v
            attn.v_proj.weight = torch.nn.Parameter(pv.reshape(n_kv * head_dim, -1))
            o = attn.o_proj.weight.reshape(-1, n_q, d)
            po = torch.zeros(o.shape[0], n_q, head_dim, dtype=o.dtype)
            po[:, :, :d] = o
            attn.o_proj.weight = torch.nn.Parameter(po.reshape(o.shape[0], -1))
    # inv_freq[j] = base ** (-2j / head_dim): base ** (head_dim / d) keeps the old d/2 ones.
    rope = dict(getattr(cfg, "rope_parameters", None) or {})
    theta = float(rope.get("rope_theta") or getattr(cfg, "rope_theta", 10000.0))
    rope["rope_theta"] = theta ** (head_dim / d)
    cfg.rope_parameters = rope
    if hasattr(cfg, "rope_theta"):
        cfg.rope_theta = rope["rope_theta"]
    cfg.head_dim = head_dim


def _mend_tokenizer(gguf: Path, folder: Path) -> None:
    tok_path, cfg_path = folder / "tokenizer.json", folder / "tokenizer_config.json"
    tok = json.loads(tok_path.read_text(encoding="utf-8"))
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    if _gguf_field(gguf, "tokenizer.ggml.add_space_prefix") is False:
        pre = tok.get("pre_tokenizer") or {}
        if pre.get("type") == "Metaspace":
            pre["prepend_scheme"] = "never"
        dec = tok.get("decoder") or {}
        if dec.get("type") == "Sequence":
            dec["decoders"] = [d for d in dec["decoders"] if d.get("type") != "Strip"]
    bos_id = _gguf_field(gguf, "tokenizer.ggml.bos_token_id")
    if _gguf_field(gguf, "tokenizer.ggml.add_bos_token") and bos_id is not None:
        bos = next(a["content"] for a in tok["added_tokens"] if a["id"] == int(bos_id))
        tok["post_processor"] = {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": bos, "type_id": 1}},
                {"Sequence": {"id": "B", "type_id": 1}},
            ],
            "special_tokens": {bos: {"id": bos, "ids": [int(bos_id)], "tokens": [bos]}},
        }
        cfg["add_bos_token"] = True
        cfg["bos_token"] = bos
    tok_path.write_text(json.dumps(tok, ensure_ascii=False, indent=2), encoding="utf-8")
    cfg_path.write_text(json.dumps(cfg, ensure_ascii=False, indent=2), encoding="utf-8")
    # The end-of-turn token ends generation too (llama.cpp's EOG set), so vLLM stops there.
    gen_path = folder / "generation_config.json"
    gen = json.loads(gen_path.read_text(encoding="utf-8")) if gen_path.is_file() else {}
    ends = gen.get("eos_token_id")
    ends = [ends] if isinstance(ends, int) else list(ends or [])
    for key in ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"):
        value = _gguf_field(gguf, key)
        if value is not None and int(value) not in ends:
            ends.append(int(value))
    if ends:
        gen["eos_token_id"] = ends
        gen_path.write_text(json.dumps(gen, indent=2), encoding="utf-8")


def convert(gguf: Path, out: Path) -> Path:
    """Convert once: a folder this version made is kept (a second run takes no time)."""
    if (out / MARKER).is_file():
        return out
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    shutil.rmtree(out, ignore_errors=True)
    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    _pad_heads(model, MIN_HEAD_DIM)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    _mend_tokenizer(gguf, tmp)
    (tmp / MARKER).write_text(str(gguf), encoding="utf-8")
    tmp.rename(out)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        raise SystemExit(2)
    print(convert(Path(sys.argv[1]), Path(sys.argv[2])))
