"""End to end in a real terminal: `playground` in tmux on the demo models (default config).

Asks the first question a new user asks, reads the screen with capture-pane until both
replies finish, and checks the story: the aligned model answers "Paris" and ends its turn
(end of generation), the base model does not end on its own. Then quits.
Needs tmux (Debian's package; .ci/run installs it) and the demo models.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.demo


SOCKET = f"pg-test-{uuid.uuid4().hex[:8]}"
"""A tmux server of this test's own, so no other tmux user can end the session under it."""


def _tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", SOCKET, *args], check=True, capture_output=True, text=True, timeout=10
    ).stdout


def _pane_dead(session: str) -> bool:
    return _tmux("display-message", "-p", "-t", session, "#{pane_dead}").strip() == "1"


def _wait_for(session: str, cond, timeout: float) -> str:  # type: ignore[no-untyped-def]
    """Read the screen until `cond(screen)`; an app that exits early fails with its last
    screen (the session keeps its pane after the app exits, so a traceback stays readable)."""
    end = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < end:
        screen = _tmux("capture-pane", "-p", "-t", session)
        if cond(screen):
            return screen
        if _pane_dead(session):
            raise AssertionError(f"the app exited; its terminal shows:\n{screen}")
        time.sleep(0.3)
    raise AssertionError(f"timed out; the screen was:\n{screen}")


def test_playground_in_tmux(tmp_path: Path, smollm2_path: Path, gemma_path: Path) -> None:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing: apt-get install -y tmux")
    session = f"pg-{uuid.uuid4().hex[:8]}"
    env_prefix = f"PLAYGROUND_DATA_DIR={tmp_path / 'data'} TERM=xterm-256color"
    command = f"{env_prefix} {sys.executable} -m playground"
    _tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "45", command)
    _tmux("set-option", "-t", session, "remain-on-exit", "on")
    try:
        _wait_for(session, lambda s: "ready" in s and s.count("ready") >= 2, 120)
        _tmux("send-keys", "-t", session, "-l", "What is the capital of France?")
        _tmux("send-keys", "-t", session, "Enter")

        def halves(screen: str) -> tuple[str, str]:
            rows = screen.splitlines()
            return (
                "\n".join(r[: len(r) // 2] for r in rows),
                "\n".join(r[len(r) // 2 :] for r in rows),
            )

        def reason(half: str) -> str | None:
            found = re.search(r"tok/s · (eog|max_tokens|stop|stopped|context_full)", half)
            return found.group(1) if found else None

        def both_finished(screen: str) -> bool:
            left, right = halves(screen)
            return reason(left) is not None and reason(right) is not None

        screen = _wait_for(session, both_finished, 240)
        assert "base: Gemma 3 270M" in screen
        assert "aligned: SmolLM2" in screen
        left, right = halves(screen)
        assert "Paris" in right
        assert reason(right) == "eog", screen  # the aligned model ended its turn itself
        assert reason(left) == "max_tokens", screen  # the base model did not
        _tmux("send-keys", "-t", session, "Escape")
        _tmux("send-keys", "-t", session, "C-q")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if _pane_dead(session):
                break
            time.sleep(0.3)
        else:
            raise AssertionError("the app did not quit on Ctrl+Q")
    finally:
        subprocess.run(["tmux", "-L", SOCKET, "kill-server"], capture_output=True)
    saved = list((tmp_path / "data" / "conversations").glob("*.jsonl"))
    assert saved and "capital of France" in saved[0].read_text()
    assert os.path.getsize(saved[0]) > 0
