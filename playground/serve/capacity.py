"""How many browser tabs one machine can serve: each tab is its own app process, and each
app loads both models of the pair.

The default limit divides the memory the machine has free by what one session of this
pair costs. A session's own memory is the app (Python, Textual, llama.cpp's buffers and KV
caches); the weights are memory-mapped, so the sessions share one copy in the page cache.
bench/bench_serve.py measures both on the demo pair (README "Serving the app in a
browser" has the numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from playground.config import Config, ModelSpec
from playground.config.registry import resolve_model_path
from playground.engine.errors import EngineError

MIB = 1024 * 1024

SESSION_BASE_BYTES = 64 * MIB
"""One app process with no model: Python, Textual, the playground modules (measured: 38 MiB
private, 56 MiB RSS; rounded up for a long conversation's transcript)."""

KV_BYTES_PER_CTX_TOKEN = 32 * 1024
"""A model's private memory per token of context: its KV cache and compute buffers. The
demo pair, 4096 tokens each: 304 MiB private per tab with both loaded, 38 of them the app,
so about 33 KiB per token of the two contexts (bench/bench_serve.py)."""

MAX_DEFAULT_SESSIONS = 32
"""However much memory there is, more tabs than this make a few CPU cores too slow to
stream to anyone."""

MEMORY_SHARE = 0.8
"""The part of the free memory the sessions may take; the rest stays for the system."""


@dataclass(frozen=True)
class Capacity:
    """The default session limit and how it was reached (printed at start)."""

    sessions: int
    per_session_bytes: int
    shared_bytes: int
    available_bytes: int | None

    def explain(self) -> str:
        if self.available_bytes is None:
            return f"{self.sessions} (free memory unknown on this system)"
        return (
            f"{self.sessions} ({_gib(self.available_bytes)} free, ~{self.per_session_bytes // MIB}"
            f" MiB per session + {self.shared_bytes // MIB} MiB of weights shared by all)"
        )


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes, None where there is no such file."""
    try:
        text = Path("/proc/meminfo").read_text(encoding="ascii")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def model_cost(spec: ModelSpec) -> tuple[int, int]:
    """(private bytes per session, shared weight bytes) for one model entry.

    A model on a server (kind "llama-server" or "vllm") costs a tab nothing here: the
    server holds its weights and caches. A model whose file cannot be found costs only its
    context; loading it will say what is missing, in the browser as in the terminal.
    """
    if getattr(spec, "kind", "gguf") != "gguf":
        return 0, 0
    private = spec.n_ctx * KV_BYTES_PER_CTX_TOKEN
    try:
        weights = resolve_model_path(spec).stat().st_size
    except (EngineError, OSError):
        weights = 0
    return private, weights


def default_capacity(config: Config, available: int | None = None) -> Capacity:
    """The default --max-sessions for the config's pair on this machine."""
    private = SESSION_BASE_BYTES
    shared = 0
    for model_id in (config.pair.base, config.pair.aligned):
        spec = config.models.get(model_id)
        if spec is not None:
            mine, weights = model_cost(spec)
            private += mine
            shared += weights
    if available is None:
        available = available_memory()
    if available is None:
        return Capacity(4, private, shared, None)
    budget = int(available * MEMORY_SHARE) - shared
    sessions = max(1, min(MAX_DEFAULT_SESSIONS, budget // private))
    return Capacity(sessions, private, shared, available)


def _gib(n: int) -> str:
    return f"{n / (1024 * MIB):.1f} GiB"
