"""`playground serve` in a browser, beside the same app in a terminal, on the demo pair.

Measures, in one run on one machine:
- page open -> first paint of the app in headless Chromium, beside the terminal app's first
  screen in a pseudo-terminal (same command, same size);
- memory per session: RSS, PSS and private memory of each tab's app process with both models
  loaded, for 1..N tabs, and how much MemAvailable drops per tab (the weights are mmapped, so
  the tabs share them: PSS and private memory say what one more tab costs);
- key -> screen while both models stream: a key typed in the browser, from its keydown to the
  WebSocket frame that shows it and to the next painted frame; beside it, the same key
  written to the terminal app's pty, to the first output that shows it. Samples count only
  while both models are still streaming (read from the conversation file as it is written).

Usage: python bench/bench_serve.py [--config models.toml] [--tabs 3] [--samples 30]
Needs /usr/bin/chromium and playwright (pip install ".[test]"); prints a table (--json too).
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import re
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyte  # noqa: E402

from tests.serve.serving import TabScreen, launch_chromium  # noqa: E402

PROMPT = "Write a long story about a lighthouse keeper and the sea."
MARK = "\u00a4"  # ¤: typed into the message box; no model here writes it
VIEWPORT = {"width": 1280, "height": 800}
MIB = 1024 * 1024
FIRST_SCREEN = "chat mode"
"""In the app's header from its first frame on."""

PROBE_JS = """
(() => {
  const pg = window.__pg = {want: null, t0: null, t1: null, done: null};
  const Native = window.WebSocket;
  const contains = (hay, needle) => {
    outer: for (let i = 0; i + needle.length <= hay.length; i++) {
      for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
      return true;
    }
    return false;
  };
  window.WebSocket = function (url, protocols) {
    const ws = new Native(url, protocols);
    ws.addEventListener("message", (e) => {
      if (typeof e.data === "string" || pg.want === null || pg.t0 === null) return;
      if (!contains(new Uint8Array(e.data), pg.want)) return;
      pg.t1 = performance.now();
      pg.want = null;
      // our timeout and frame callback are queued before xterm.js's, so the last timeout
      // runs after the frame in which xterm.js paints the data
      setTimeout(() => requestAnimationFrame(() => setTimeout(() => {
        pg.done = {frame: pg.t1 - pg.t0, paint: performance.now() - pg.t0};
      }, 0)), 0);
    });
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  const start = () => { if (pg.want !== null && pg.t0 === null) pg.t0 = performance.now(); };
  document.addEventListener("keydown", start, true);
  document.addEventListener("input", start, true);
  pg.arm = (text) => { pg.want = new TextEncoder().encode(text); pg.t0 = null; pg.done = null; };
})();
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(values: list[float]) -> str:
    if not values:
        return "no samples"
    return f"p50 {pct(values, 0.5):.1f}, p95 {pct(values, 0.95):.1f}, max {max(values):.1f}"


# ---------------------------------------------------------------- streaming, from the file


class Streaming:
    """Whether both models are streaming the last turn, read from the conversation files
    in a data dir as the app writes them."""

    def __init__(self, data: Path) -> None:
        self.folder = data / "conversations"

    def ended(self) -> set[str]:
        """The sides that ended the last turn."""
        files = sorted(self.folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
        ended: set[str] = set()
        for line in files[-1].read_text(encoding="utf-8").splitlines() if files else []:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if _new_turn(rec):
                ended = set()
            elif rec.get("type") in ("finish", "error"):
                ended.add(rec["side"])
        return ended

    def state(self) -> tuple[int, bool]:
        """(user turns so far, both sides have tokens of the last turn and neither ended)."""
        files = sorted(self.folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
        if not files:
            return 0, False
        turns = 0
        tokens: set[str] = set()
        ended: set[str] = set()
        for line in files[-1].read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written
            kind = rec.get("type")
            if _new_turn(rec):
                turns += 1
                tokens, ended = set(), set()
            elif kind == "tokens":
                tokens.add(rec["side"])
            elif kind in ("finish", "error"):
                ended.add(rec["side"])
        return turns, tokens == {"base", "aligned"} and not ended


def _new_turn(rec: dict[str, object]) -> bool:
    """A message starts one turn per side in the conversation tree: count the base side's."""
    return rec.get("type") == "node" and rec.get("side") == "base"


def wait(cond: Callable[[], bool], timeout: float, what: str, pump: Callable[[], None]) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise SystemExit(f"bench_serve: timed out waiting for {what}")
        pump()


# ---------------------------------------------------------------- the server


class Serve:
    def __init__(
        self, config: str | None, data: Path, max_sessions: int, extra: list[str] | None = None
    ) -> None:
        self.port = free_port()
        args = [sys.executable, "-m", "playground", "serve", "--port", str(self.port)]
        args += ["--max-sessions", str(max_sessions), *(extra or [])]
        if config:
            args += ["--config", config]
        env = dict(os.environ, PLAYGROUND_DATA_DIR=str(data), PYTHONPATH=str(ROOT))
        self.log = tempfile.NamedTemporaryFile("w+", prefix="bench-serve-", suffix=".log")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        end = time.monotonic() + 120
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            if self.proc.poll() is not None or time.monotonic() > end:
                raise SystemExit(f"bench_serve: serve did not start:\n{self.output()}")
            time.sleep(0.1)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def pids(self) -> list[int]:
        return [int(p) for p in re.findall(r"started: pid (\d+)", self.output())]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(120)


def memory_of(pid: int) -> dict[str, int]:
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        fields[name.rstrip(":")] = int(value) * 1024
    return {
        "rss": fields["Rss"],
        "pss": fields["Pss"],
        "private": fields["Private_Clean"] + fields["Private_Dirty"],
    }


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


# ---------------------------------------------------------------- browser side


def open_tab(browser: Any, url: str, probe: bool = False) -> tuple[Any, TabScreen, float]:
    """A new tab on the app; returns it, its screen and seconds to the app's first paint."""
    page = browser.new_page(viewport=VIEWPORT)
    if probe:
        page.add_init_script(PROBE_JS)
    tab = TabScreen(page)
    t0 = time.perf_counter()
    page.goto(url)
    wait(
        lambda: FIRST_SCREEN in tab.text(),
        120,
        "the app's first paint",
        lambda: page.wait_for_timeout(10),
    )
    first = time.perf_counter() - t0
    return page, tab, first


def tab_ready(tab: TabScreen) -> bool:
    return tab.text().count("ready ·") >= 2


def browser_keys(
    browser: Any, url: str, data: Path, samples: int
) -> tuple[list[float], list[float], tuple[int, int]]:
    page, tab, _ = open_tab(browser, url, probe=True)
    streaming = Streaming(data)
    wait(lambda: tab_ready(tab), 300, "both models in the tab", lambda: page.wait_for_timeout(100))
    size = (tab.screen.columns, tab.screen.lines) if tab.screen else (0, 0)
    frames: list[float] = []
    paints: list[float] = []
    while len(frames) < samples:
        turns = streaming.state()[0]
        page.keyboard.type(PROMPT)
        page.keyboard.press("Enter")
        wait(
            lambda t=turns: streaming.state() == (t + 1, True),
            300,
            "both models to stream",
            lambda: page.wait_for_timeout(20),
        )
        while streaming.state()[1] and len(frames) < samples:
            page.evaluate(f"window.__pg.arm({json.dumps(MARK)})")
            page.keyboard.insert_text(MARK)
            page.wait_for_function("window.__pg.done !== null", timeout=30_000)
            done = page.evaluate("window.__pg.done")
            if streaming.state()[1]:  # still both streaming when it showed
                frames.append(done["frame"])
                paints.append(done["paint"])
            page.keyboard.press("Backspace")
            page.wait_for_timeout(150)
        page.keyboard.press("Escape")
        page.wait_for_timeout(500)
    page.close()
    return frames, paints, size


# ---------------------------------------------------------------- terminal side


class PtyApp:
    """`python -m playground` in a pseudo-terminal of a given size."""

    def __init__(self, config: str | None, data: Path, size: tuple[int, int]) -> None:
        args = [sys.executable, "-m", "playground"] + (["--config", config] if config else [])
        env = dict(
            os.environ,
            PLAYGROUND_DATA_DIR=str(data),
            PYTHONPATH=str(ROOT),
            TERM="xterm-256color",
            COLORTERM="truecolor",
            COLUMNS=str(size[0]),
            LINES=str(size[1]),
        )
        self.t0 = time.perf_counter()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            import fcntl
            import struct
            import termios

            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
            os.execvpe(args[0], args, env)
        import fcntl
        import struct
        import termios

        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        self.seen = b""
        self.screen = pyte.Screen(*size)
        self.stream = pyte.ByteStream(self.screen)

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def read(self, timeout: float = 0.02) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return b""
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            return b""
        self.seen = (self.seen + data)[-200_000:]
        self.stream.feed(data)
        return data

    def write(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def quit(self) -> None:
        self.write("\x11")  # Ctrl+Q
        end = time.monotonic() + 30
        while time.monotonic() < end:
            self.read(0.1)
            done, _ = os.waitpid(self.pid, os.WNOHANG)
            if done:
                return
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)


def terminal_first_paint(config: str | None, data: Path, size: tuple[int, int]) -> float:
    app = PtyApp(config, data, size)
    while FIRST_SCREEN.encode() not in app.seen:
        app.read()
        if time.perf_counter() - app.t0 > 120:
            raise SystemExit("bench_serve: the terminal app never painted")
    first = time.perf_counter() - app.t0
    app.quit()
    return first


def terminal_keys(
    config: str | None, data: Path, size: tuple[int, int], samples: int
) -> list[float]:
    app = PtyApp(config, data, size)
    streaming = Streaming(data)
    wait(lambda: app.text().count("ready ·") >= 2, 300, "both models", app.read)
    found: list[float] = []
    mark = MARK.encode()
    while len(found) < samples:
        turns = streaming.state()[0]
        app.write(PROMPT + "\r")
        wait(lambda t=turns: streaming.state() == (t + 1, True), 300, "both to stream", app.read)
        while streaming.state()[1] and len(found) < samples:
            while app.read(0.0):
                pass  # drain, so only output after the key counts
            t0 = time.perf_counter()
            app.write(MARK)
            got = b""
            while mark not in got:
                got += app.read(0.005)
                if time.perf_counter() - t0 > 30:
                    raise SystemExit("bench_serve: the terminal never showed the key")
            ms = (time.perf_counter() - t0) * 1000
            if streaming.state()[1]:
                found.append(ms)
            app.write("\x7f")
            end = time.monotonic() + 0.15
            while time.monotonic() < end:
                app.read(0.02)
        app.write("\x1b")
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            app.read(0.05)
    app.quit()
    return found


# ---------------------------------------------------------------- README screenshot


def projector_shot(config: str | None, path: Path, question: str) -> None:
    """`serve --projector` on the pair, one question answered by both, saved as a PNG."""
    from playwright.sync_api import sync_playwright

    data = Path(tempfile.mkdtemp(prefix="bench-serve-shot-"))
    server = Serve(config, data, max_sessions=1, extra=["--projector"])
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            tab = TabScreen(page)
            page.goto(server.url)
            wait(lambda: tab_ready(tab), 300, "both models", lambda: page.wait_for_timeout(100))
            page.keyboard.type(question)
            page.keyboard.press("Enter")
            done = Streaming(data)

            def answered() -> bool:
                turns, _ = done.state()
                return turns == 1 and done.ended() == {"base", "aligned"}

            wait(answered, 300, "both replies", lambda: page.wait_for_timeout(200))
            page.wait_for_timeout(1500)  # the shift chart and the last paint
            path.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(path))
            browser.close()
    finally:
        server.stop()
    print(f"saved {path}")


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None)
    parser.add_argument("--tabs", type=int, default=3, help="tabs for the memory figures")
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--paints", type=int, default=3, help="first-paint repeats")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--projector-shot",
        type=Path,
        metavar="PNG",
        help="only save the README's screenshot of `serve --projector` and stop",
    )
    parser.add_argument("--question", default="What is the capital of France?")
    args = parser.parse_args()
    if args.projector_shot:
        projector_shot(args.config, args.projector_shot, args.question)
        return 0
    from playwright.sync_api import sync_playwright

    rows: list[tuple[str, str]] = []
    data = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    server = Serve(args.config, data / "browser", max_sessions=args.tabs + 1)
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            # first paint: a fresh tab each time, closed before the next
            paints: list[float] = []
            size = (0, 0)
            for _ in range(args.paints):
                page, tab, first = open_tab(browser, server.url)
                paints.append(first)
                wait(lambda t=tab: bool(t.screen), 60, "the socket", lambda: None)
                size = (tab.screen.columns, tab.screen.lines)  # type: ignore[union-attr]
                page.close()
                time.sleep(1.0)
            terminal = [
                terminal_first_paint(args.config, data / "terminal", size)
                for _ in range(args.paints)
            ]
            rows.append(
                (
                    f"page open -> first paint of the app, browser (s, median of {args.paints})",
                    f"{statistics.median(paints):.2f} (all: "
                    + ", ".join(f"{x:.2f}" for x in paints)
                    + ")",
                )
            )
            rows.append(
                (
                    "  start -> first screen, same app in a terminal (pty)",
                    f"{statistics.median(terminal):.2f}; ratio browser/terminal "
                    f"{statistics.median(paints) / statistics.median(terminal):.2f}x",
                )
            )

            # memory: 1..N tabs, both models loaded in each
            time.sleep(2.0)
            before = mem_available()
            tabs = []
            for n in range(1, args.tabs + 1):
                page, tab, _ = open_tab(browser, server.url)
                tabs.append((page, tab))
                wait(
                    lambda t=tab: tab_ready(t),
                    300,
                    "both models",
                    lambda p=page: p.wait_for_timeout(100),
                )
                time.sleep(2.0)
                pids = server.pids()[-n:]
                mems = [memory_of(pid) for pid in pids]
                drop = (before - mem_available()) / n
                rows.append(
                    (
                        f"memory per session with {n} tab(s) open (MiB)",
                        f"RSS {statistics.mean(m['rss'] for m in mems) / MIB:.0f}, "
                        f"PSS {statistics.mean(m['pss'] for m in mems) / MIB:.0f}, "
                        f"private {statistics.mean(m['private'] for m in mems) / MIB:.0f}; "
                        f"MemAvailable drop per tab {drop / MIB:.0f}",
                    )
                )
            for page, _tab in tabs:
                page.close()
            time.sleep(3.0)

            # key -> screen while both stream
            frames, painted, size = browser_keys(
                browser, server.url, data / "browser", args.samples
            )
            browser.close()
        server.stop()
        server = None  # type: ignore[assignment]
        term = terminal_keys(args.config, data / "terminal", size, args.samples)
        rows.append(
            (f"key -> frame, browser, both streaming (ms, n={len(frames)})", summary(frames))
        )
        rows.append(
            (f"key -> painted, browser, both streaming (ms, n={len(painted)})", summary(painted))
        )
        rows.append(
            (f"key -> output, terminal pty, both streaming (ms, n={len(term)})", summary(term))
        )
        if term and painted:
            rows.append(
                (
                    "  browser painted / terminal, p50",
                    f"{pct(painted, 0.5) / pct(term, 0.5):.2f}x",
                )
            )
    finally:
        if server is not None:
            server.stop()
    if args.json:
        print(json.dumps([{"metric": m, "value": v} for m, v in rows]))
    else:
        width = max(len(m) for m, _ in rows)
        for metric, value in rows:
            print(f"{metric:<{width}}  {value}")
    print(f"cpu cores: {os.cpu_count()}; terminal {size[0]}x{size[1]}; prompt {PROMPT!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
