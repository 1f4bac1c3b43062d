"""Fixtures for the serve tests: the tiny pair's models.toml, a data dir, one headless
Chromium for the module; the app fixtures of tests/ui are shared."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serve.serving import launch_chromium
from tests.ui.conftest import data_dir, tiny_config, write_models_toml

__all__ = ["browser", "data_dir", "serve_config", "serve_data", "tiny_config"]


@pytest.fixture
def serve_config(tiny_pair, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    return write_models_toml(tmp_path, tiny_pair.base, tiny_pair.aligned)


@pytest.fixture
def serve_data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()
