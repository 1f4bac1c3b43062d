"""Real parts for the serve tests: `playground serve` as a subprocess, headless Chromium
(Debian's /usr/bin/chromium through playwright, no browser download), and the screen a tab
shows, read back by feeding what the tab's WebSocket received to a VT100 emulator (pyte):
the bytes xterm.js paints on its canvas.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyte

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("PLAYGROUND_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "serve"

STARTED = re.compile(r"session (\d+) started: pid (\d+)")
ENDED = re.compile(r"session (\d+) ended: pid (\d+) exit (-?\d+|None)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pid_alive(pid: int) -> bool:
    """True while `pid` is a live process (a zombie counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def children_of(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.update(int(c) for c in (task / "children").read_text().split())
        except FileNotFoundError:
            continue
    return found


def wait_for(cond: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class ServeProcess:
    """`python -m playground serve ...` with its output collected line by line."""

    def __init__(self, args: Sequence[str], env: dict[str, str]) -> None:
        self.port = free_port()
        self.args = [sys.executable, "-m", "playground", "serve", "--port", str(self.port), *args]
        self.proc = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=ROOT,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_listening(self) -> None:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited early:\n{self.output}")
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        wait_for(up, 60, "the server to listen")

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def token(self) -> str:
        for line in self.lines:
            if m := re.search(r"\?token=(\S+)", line):
                return m.group(1)
        raise AssertionError(f"no token printed:\n{self.output}")

    def started_pids(self) -> list[int]:
        return [int(m.group(2)) for line in self.lines if (m := STARTED.search(line))]

    def ended(self) -> dict[int, str]:
        """pid -> exit code as printed, for every session that ended."""
        return {int(m.group(2)): m.group(3) for line in self.lines if (m := ENDED.search(line))}

    def wait_sessions(self, n: int) -> list[int]:
        wait_for(lambda: len(self.started_pids()) >= n, 60, f"{n} session(s) to start")
        return self.started_pids()

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl+C, as a teacher would press it; returns the exit code."""
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.interrupt()


def serve_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PLAYGROUND_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("PLAYGROUND_SERVE_TOKEN", None)
    env.update(extra)
    return env


@contextmanager
def serving(args: Sequence[str], env: dict[str, str]) -> Iterator[ServeProcess]:
    server = ServeProcess(args, env)
    try:
        server.wait_listening()
        yield server
    finally:
        server.stop()


class TabScreen:
    """The terminal screen of one browser tab, rebuilt from its WebSocket's frames."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.screen: pyte.Screen | None = None
        self.stream: pyte.ByteStream | None = None
        self.closed = False
        page.on("websocket", self._connected)

    def _connected(self, ws: Any) -> None:
        query = parse_qs(urlsplit(ws.url).query)
        width, height = int(query["width"][0]), int(query["height"][0])
        self.screen = pyte.Screen(width, height)
        self.stream = pyte.ByteStream(self.screen)
        ws.on("framereceived", self._received)
        ws.on("framesent", self._sent)
        ws.on("close", lambda _ws: setattr(self, "closed", True))

    def _received(self, payload: str | bytes) -> None:
        if isinstance(payload, bytes) and self.stream is not None:
            self.stream.feed(payload)

    def _sent(self, payload: str | bytes) -> None:
        if isinstance(payload, str) and payload.startswith('["resize"') and self.screen:
            m = re.search(r'"width":\s*(\d+),\s*"height":\s*(\d+)', payload)
            if m:
                self.screen.resize(int(m.group(2)), int(m.group(1)))

    def text(self) -> str:
        return "\n".join(self.screen.display) if self.screen is not None else ""

    def wait_ready(self, timeout: float = 60.0) -> str:
        """Until both panes say their model is ready (each status starts "ready ·")."""
        end = time.monotonic() + timeout
        while self.text().count("ready ·") < 2:
            if time.monotonic() > end:
                raise AssertionError(f"both models never got ready; the tab shows:\n{self.text()}")
            self.page.wait_for_timeout(100)
        return self.text()

    def wait_text(self, *needles: str, timeout: float = 60.0) -> str:
        """Let the page run until the screen shows every needle; returns the screen."""
        end = time.monotonic() + timeout
        while True:
            shown = self.text()
            if all(n in shown for n in needles):
                return shown
            if time.monotonic() > end:
                raise AssertionError(f"the tab never showed {needles!r}; it shows:\n{shown}")
            self.page.wait_for_timeout(100)


def launch_chromium(playwright: Any) -> Any:
    if not Path(CHROMIUM).exists():
        raise AssertionError("Debian's chromium is missing: apt-get install -y chromium")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
