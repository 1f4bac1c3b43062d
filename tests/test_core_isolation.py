"""The core never imports Textual, so the CLI, tests and benchmarks drive the same code."""

from __future__ import annotations

import subprocess
import sys

import pytest

CORE = [
    "playground.engine.backend",
    "playground.engine.llama",
    "playground.engine.vocab",
    "playground.config",
    "playground.sampling",
    "playground.templates",
    "playground.analysis",
    "playground.lessons",
    "playground.cli.lesson_cmd",
    "playground.session.core",
    "playground.session.forking",
    "playground.cli.main",
]


@pytest.mark.parametrize("module", CORE)
def test_core_module_does_not_import_textual(module: str) -> None:
    code = (
        f"import sys, importlib; importlib.import_module({module!r}); "
        "bad = [m for m in sys.modules if m == 'textual' or m.startswith('textual.')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
