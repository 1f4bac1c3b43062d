"""CI runs exactly the test command the README gives, so what a reader runs is what CI proved."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.S)
    test_lines = [b.strip() for b in blocks if "python -m pytest" in b]
    assert len(test_lines) == 1, "the README should give one test command"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == test_lines[0]
    # the server backends are set up before the tests, so their tests run rather than skip
    assert "scripts/build_llama_server.sh" in ci[-1] and "scripts/setup_vllm.sh" in ci[-1]
