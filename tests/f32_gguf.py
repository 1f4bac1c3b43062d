"""A GGUF with every tensor dequantized to float32, for comparing engines on the same weights.

vLLM serves the demo models from float32 folders (it cannot dequantize GGUF on a CPU), while
the in-process engine runs the quantized GGUF. Their greedy replies can then differ at a
near-tie (SmolLM2 Q4_1 at the first token: 0.24 nats between the top two). The same weights
dequantized into a float32 GGUF let llama.cpp and vLLM compute the same function, so their
greedy tokens must agree.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter, LlamaFileType
from gguf.quants import dequantize


def dequantized_copy(src: Path, out: Path) -> Path:
    """Write `src` with float32 tensors to `out` (same metadata); cached by `src`'s content."""
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    dst = out / f"{src.stem}-f32-{digest}.gguf"
    if dst.is_file():
        return dst
    reader = GGUFReader(src)
    arch = reader.get_field("general.architecture")
    assert arch is not None
    tmp = dst.with_suffix(".tmp")
    writer = GGUFWriter(tmp, str(arch.contents()))
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        if name == "general.file_type":
            writer.add_file_type(LlamaFileType.ALL_F32)
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), kind, sub_type=sub)
    for tensor in reader.tensors:
        values = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        writer.add_tensor(tensor.name, values.reshape([int(n) for n in reversed(tensor.shape)]))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.rename(dst)
    return dst
