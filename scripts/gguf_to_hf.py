"""Convert a GGUF model into a Hugging Face safetensors folder that vLLM can serve.

vLLM's GGUF support needs CUDA to dequantize, so on a CPU the demo models are served from a
float32 Hugging Face folder instead. transformers reads the GGUF already dequantized, for the
model and for its tokenizer; `save_pretrained` refuses a model loaded from GGUF until its
quantizer marker and `config.quantization_config` are cleared.

Run inside the vLLM environment (it has transformers, gguf and accelerate):
    python scripts/gguf_to_hf.py MODEL.gguf OUT_FOLDER
"""

from __future__ import annotations

import sys
from pathlib import Path


def convert(gguf: Path, out: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if (out / "config.json").is_file() and (out / "tokenizer.json").is_file():
        return out
    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = out.with_name(out.name + ".tmp")
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    tmp.rename(out)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        raise SystemExit(2)
    print(convert(Path(sys.argv[1]), Path(sys.argv[2])))
