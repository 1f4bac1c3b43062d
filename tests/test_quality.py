"""The whole check in the test run: lint, format, types, and the import contract."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_lint() -> None:
    out = run(sys.executable, "-m", "ruff", "check", "playground", "tests", "bench")
    assert out.returncode == 0, out.stdout


def test_ruff_format() -> None:
    out = run(sys.executable, "-m", "ruff", "format", "--check", "playground", "tests", "bench")
    assert out.returncode == 0, out.stdout


def test_mypy_strict_package() -> None:
    out = run(sys.executable, "-m", "mypy")
    assert out.returncode == 0, out.stdout


def test_import_contract() -> None:
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.fail("import-linter is missing: pip install -e '.[test]'")
    out = run(exe)
    assert out.returncode == 0, out.stdout
