"""`playground serve` in a real browser: headless Chromium loads the page, a question gets
both models' replies, closing the tab ends its app process, and the conversation resumes in
the terminal app (tmux) and back.

The tiny GGUF pair makes the replies exact: the aligned model answers ALIGNED_REPLY_TEXT,
the base model rambles BASE_CYCLE_TEXT.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from playground.lessons import LESSONS
from tests.serve.serving import (
    ARTIFACTS,
    ROOT,
    TabScreen,
    pid_alive,
    serve_env,
    serving,
    wait_for,
)
from tests.tiny_gguf import ALIGNED_REPLY_TEXT, BASE_CYCLE_TEXT

HELLO = ALIGNED_REPLY_TEXT.split("!")[0]  # "Hello world": ASCII, one screen line
CAT = BASE_CYCLE_TEXT.strip()  # "the cat sat on a mat"


def ask(tab: TabScreen, question: str) -> None:
    tab.page.keyboard.type(question)
    tab.page.keyboard.press("Enter")


def conversation_lines(data: Path) -> list[dict[str, Any]]:
    files = sorted((data / "conversations").glob("*.jsonl"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines() if line]


def test_question_in_the_browser_gets_both_replies_and_tab_close_ends_it(
    browser: Any, serve_config: Path, serve_data: Path
) -> None:
    with serving(["--config", str(serve_config)], serve_env(serve_data)) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        tab = TabScreen(page)
        page.goto(server.url())
        tab.wait_text("Tiny base", "Tiny aligned")
        tab.wait_ready()
        (pid,) = server.wait_sessions(1)
        assert pid_alive(pid)

        ask(tab, "Where is the cat?")
        screen = tab.wait_text(HELLO, CAT, "eog")
        assert "Where is the cat?" in screen
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-reply.png"))

        # the screens come with it: F9 opens the lessons, Escape goes back
        page.keyboard.press("F9")
        first = LESSONS[0]
        tab.wait_text(f"{first.number}. {first.title.get('en')}")
        page.screenshot(path=str(ARTIFACTS / "browser-lessons.png"))
        page.keyboard.press("Escape")
        tab.wait_text("Tiny base", HELLO)

        page.close()
        wait_for(lambda: not pid_alive(pid), 30, f"app pid {pid} to end after the tab closed")
        wait_for(lambda: pid in server.ended(), 10, "the server to report the session's end")
        assert server.ended()[pid] == "0"

    records = conversation_lines(serve_data)
    # one message: one new turn per side in the conversation tree
    asked = [(r["side"], r["user"]) for r in records if r["type"] == "node"]
    assert sorted(asked) == [("aligned", "Where is the cat?"), ("base", "Where is the cat?")]
    finishes = {r["side"]: r for r in records if r["type"] == "finish"}
    assert set(finishes) == {"base", "aligned"}
    replies = {
        side: "".join(
            t["text"]
            for r in records
            if r.get("side") == side and r["type"] == "tokens"
            for t in r["tokens"]
        )
        for side in ("base", "aligned")
    }
    assert replies["aligned"] == ALIGNED_REPLY_TEXT
    assert replies["base"].startswith(BASE_CYCLE_TEXT)


def ends_after(records: list[dict[str, Any]], question: str) -> set[str]:
    """The sides that ended the turn asked by `question`: a finish, or an error (the tiny
    base model's 256-token context is full after one turn)."""
    asked = [i for i, r in enumerate(records) if r["type"] == "node" and r["user"] == question]
    if not asked:
        return set()
    return {r["side"] for r in records[asked[0] :] if r["type"] in ("finish", "error")}


def _tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", *args], check=True, capture_output=True, text=True, timeout=10
    ).stdout


def _tmux_wait(session: str, *needles: str, timeout: float = 60) -> str:
    end = time.monotonic() + timeout
    while True:
        screen = _tmux("capture-pane", "-p", "-t", session)
        if all(n in screen for n in needles):
            return screen
        if time.monotonic() > end:
            raise AssertionError(f"the terminal never showed {needles!r}; it shows:\n{screen}")
        time.sleep(0.2)


def test_conversation_resumes_across_browser_and_terminal(
    browser: Any, serve_config: Path, serve_data: Path, tmp_path: Path
) -> None:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing: apt-get install -y tmux")
    env = serve_env(serve_data)
    with serving(["--config", str(serve_config)], env) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        tab = TabScreen(page)
        page.goto(server.url())
        tab.wait_ready()
        ask(tab, "asked in the browser")
        tab.wait_text(HELLO, "eog")
        (pid,) = server.wait_sessions(1)
        page.close()
        wait_for(lambda: not pid_alive(pid), 30, "the browser's app to end")

    # the terminal app, in a real terminal, on the same data dir: Ctrl+O resumes
    session = f"pg-serve-{tmp_path.name}"
    command = " ".join(
        [f"{k}={v}" for k, v in (("PLAYGROUND_DATA_DIR", serve_data), ("PYTHONPATH", ROOT))]
        + [sys.executable, "-m", "playground", "--config", str(serve_config)]
    )
    _tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "36", command)
    try:
        end = time.monotonic() + 60
        while _tmux("capture-pane", "-p", "-t", session).count("ready ·") < 2:
            assert time.monotonic() < end, "the terminal app never loaded both models"
            time.sleep(0.2)
        _tmux("send-keys", "-t", session, "C-o")
        _tmux_wait(session, "asked in the browser", HELLO)
        _tmux("send-keys", "-t", session, "-l", "then in the terminal")
        _tmux("send-keys", "-t", session, "Enter")
        _tmux_wait(session, "then in the terminal")
        wait_for(
            lambda: len(ends_after(conversation_lines(serve_data), "then in the terminal")) == 2,
            60,
            "the terminal turn to finish",
        )
        _tmux("send-keys", "-t", session, "C-q")
        wait_for(
            lambda: subprocess.run(["tmux", "has-session", "-t", session]).returncode != 0,
            30,
            "the terminal app to quit",
        )
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)

    # and back in a new browser tab
    with serving(["--config", str(serve_config)], env) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        tab = TabScreen(page)
        page.goto(server.url())
        tab.wait_ready()
        page.keyboard.press("Control+o")
        tab.wait_text("asked in the browser", "then in the terminal")
        page.close()


def test_classroom_tab_with_the_token_in_the_projector_look(
    browser: Any, serve_config: Path, serve_data: Path
) -> None:
    """Bound beyond loopback: the printed URL (token from the environment) opens the app in
    a browser, whose WebSocket gets in by the cookie the page set; without the token the
    browser gets the refusal and no app. --projector: a black screen and a 28 px page."""
    token = "classroom-token-0123456789"
    args = ["--config", str(serve_config), "--host", "0.0.0.0", "--allow-remote", "--projector"]
    with serving(args, serve_env(serve_data, PLAYGROUND_SERVE_TOKEN=token)) as server:
        assert server.token() == token
        stranger = browser.new_page()
        response = stranger.goto(server.url())
        assert response is not None and response.status == 403
        assert "access token" in stranger.inner_text("body")
        assert stranger.query_selector(".textual-terminal") is None
        stranger.close()
        assert server.started_pids() == []

        page = browser.new_page(viewport={"width": 1280, "height": 800})
        tab = TabScreen(page)
        page.goto(server.url(f"/?token={token}"))
        tab.wait_ready()
        assert page.get_attribute("#terminal", "data-font-size") == "28"
        assert tab.screen is not None
        middle = tab.screen.buffer[tab.screen.lines // 2][tab.screen.columns // 4]
        assert middle.bg == "000000"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-projector.png"))
        page.close()


def test_tabs_opened_at_once_past_the_limit_get_the_full_page(
    browser: Any, serve_config: Path, serve_data: Path
) -> None:
    """A class opening the URL together: with --max-sessions 1, two tabs loading at the same
    moment both may get the page while a place is free, but only one gets the session; the
    other ends on the page saying all sessions are in use, not on an ended session."""
    args = ["--config", str(serve_config), "--max-sessions", "1"]
    with serving(args, serve_env(serve_data)) as server:
        pages = [browser.new_page() for _ in range(2)]
        tabs = [TabScreen(p) for p in pages]
        for page in pages:
            page.goto(server.url(), wait_until="commit")
        full = "The only playground session is in use"

        def settled() -> bool:
            for page in pages:
                page.wait_for_timeout(50)
            running = [t.text().count("ready ·") >= 2 for t in tabs]
            try:
                refused = [full in p.inner_text("body") for p in pages]
            except Exception:  # a page in the middle of reloading
                return False
            return (
                running.count(True) == 1
                and refused.count(True) == 1
                and running.index(True) != refused.index(True)
            )

        wait_for(settled, 60, "one tab with the app and one with the full page")
        assert len(server.started_pids()) == 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        loser = next(p for p in pages if full in p.inner_text("body"))
        loser.screenshot(path=str(ARTIFACTS / "browser-full.png"))
        for page in pages:
            page.close()
