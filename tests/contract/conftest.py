"""Every backend, one suite: the contract tests run once per entry of BACKENDS.

harlequin's `all_adapters` pattern: the fixtures below are parametrized over BACKENDS, so each
test in tests/contract/ runs against every backend, and a new engine inherits the whole suite.

Adding a backend takes one line in BACKENDS plus a factory. The factory is a context manager
that takes the tiny pair's GGUF paths (tests/tiny_gguf.py) and yields a `BackendPair` serving
those two models; on exit it closes them (and stops whatever it started, e.g. a server):

    @contextmanager
    def _llama_server(pair: TinyPair) -> Iterator[BackendPair]:
        with start_llama_server(pair.base, pair.aligned) as url:      # your helper
            base, aligned = open_remote(url, "tiny-base"), open_remote(url, "tiny-aligned")
            try:
                yield BackendPair(base, aligned)
            finally:
                base.close()
                aligned.close()

    BACKENDS = {
        "in-process": _in_process,
        "llama-server": _llama_server,
    }

A factory that cannot start must fail with a message that says how to get it: a skipped
backend proves nothing. The one exception is a server that is not set up on a developer's
machine (llama-server takes ten minutes to build, vLLM's venv is 3.5 GB): outside CI those
tests skip with the command that sets it up; in CI (`$CI` set, and `.ci/run` sets both up
first) they fail.

The tests read the backend's `capabilities` and assert what each flag promises: a capability
that is on must work, one that is off must raise `Unsupported` when asked for.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from playground.engine.backend import Backend
from tests.tiny_gguf import TinyPair


@dataclass(frozen=True)
class BackendPair:
    """The tiny pair served by one backend: `base` rambles, `aligned` answers in ChatML."""

    base: Backend
    aligned: Backend


BackendFactory = Callable[[TinyPair], AbstractContextManager[BackendPair]]


@contextmanager
def _in_process(pair: TinyPair) -> Iterator[BackendPair]:
    from playground.engine.llama.model import LlamaModel, LoadOptions

    threads = max(1, os.cpu_count() or 2)
    base = LlamaModel(pair.base, LoadOptions(n_ctx=256, n_threads=threads))
    aligned = LlamaModel(pair.aligned, LoadOptions(n_ctx=256, n_threads=threads))
    try:
        yield BackendPair(base, aligned)
    finally:
        base.close()
        aligned.close()


@contextmanager
def _llama_server(pair: TinyPair) -> Iterator[BackendPair]:
    """A real llama-server on 127.0.0.1 in router mode, hosting both tiny models."""
    from playground.engine.remote import Endpoint, open_server
    from tests.servers import llama_server

    models = {"tiny-base": pair.base, "tiny-aligned": pair.aligned}
    with (
        tempfile.TemporaryDirectory() as tmp,
        llama_server(models=models, n_ctx=256, workdir=Path(tmp)) as server,
    ):
        base = open_server("llama-server", Endpoint(server.url), "tiny-base")
        aligned = open_server("llama-server", Endpoint(server.url), "tiny-aligned")
        try:
            yield BackendPair(base, aligned)
        finally:
            base.close()
            aligned.close()


_VLLM_FOLDERS: set[Path] = set()
"""The tiny pair's vLLM folders, whose servers stop when the suite is done with vLLM."""


@contextmanager
def _vllm(pair: TinyPair) -> Iterator[BackendPair]:
    """A real vLLM on 127.0.0.1, one server per tiny model (vLLM serves one model each),
    started once for the session. vLLM's CPU cannot serve GGUF, so each tiny model is
    converted to a float32 Hugging Face folder first (scripts/gguf_to_hf.py: the same
    function, its 16-wide heads zero-padded to the 32 vLLM's CPU attention needs)."""
    from playground.engine.remote import Endpoint, open_server
    from tests.servers import shared_vllm_servers, vllm_folder_for_gguf

    specs = [(vllm_folder_for_gguf(pair.base), "tiny-base")]
    specs.append((vllm_folder_for_gguf(pair.aligned), "tiny-aligned"))
    _VLLM_FOLDERS.update(folder for folder, _name in specs)
    servers = shared_vllm_servers(specs, max_model_len=256)
    opened: list[Backend] = []
    try:
        for server, (_folder, name) in zip(servers, specs, strict=True):
            endpoint = Endpoint(server.url, read_timeout=300)
            opened.append(open_server("vllm", endpoint, name, max_top_k=20))
        yield BackendPair(*opened)
    finally:
        for model in opened:
            model.close()


@contextmanager
def _server_like(pair: TinyPair) -> Iterator[BackendPair]:
    from tests.server_like import ServerLike

    with _in_process(pair) as inner:
        yield BackendPair(ServerLike(inner.base), ServerLike(inner.aligned))  # type: ignore[arg-type]


BACKENDS: dict[str, BackendFactory] = {
    "in-process": _in_process,
    # A real model behind a server's limits: exercises every capability-off branch.
    "server-like": _server_like,
    "llama-server": _llama_server,
    "vllm": _vllm,
}
"""Every backend the contract suite runs against: name -> factory."""


@pytest.fixture(scope="session", params=list(BACKENDS))
def backend_name(request: pytest.FixtureRequest) -> Iterator[str]:
    name: str = request.param
    yield name
    if name == "vllm" and _VLLM_FOLDERS:
        # pytest runs one backend's tests together: its servers (3.3 GB each) can go now
        from tests.servers import stop_shared_vllm_servers

        stop_shared_vllm_servers(sorted(_VLLM_FOLDERS))


@pytest.fixture(scope="session")
def backends(backend_name: str, tiny_pair: TinyPair) -> Iterator[BackendPair]:
    """The tiny pair on one backend, shared by the session (loading is the slow part)."""
    with BACKENDS[backend_name](tiny_pair) as pair:
        yield pair


@pytest.fixture
def fresh_backends(backend_name: str, tiny_pair: TinyPair) -> Iterator[BackendPair]:
    """A pair of its own, for tests that close it."""
    with BACKENDS[backend_name](tiny_pair) as pair:
        yield pair
