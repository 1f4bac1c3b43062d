"""`playground serve`: textual-serve's server with the pieces a classroom needs.

textual-serve gives every WebSocket (every browser tab) its own app process and relays the
terminal stream. On top of it this adds:

- access control in front of every route (serve/access.py);
- a limit on live sessions, with a page that says so to the tab over it;
- one process per tab that we can name: the app runs as `python -m playground` directly
  (no shell in between), in its own process group so the terminal's Ctrl+C reaches only
  the server, which then ends every session itself: a quit message first (the app closes
  its conversation file as on Ctrl+Q), SIGTERM if it does not go, SIGKILL last;
- a page that builds its WebSocket URL from the address the browser used (textual-serve's
  uses the bind address, which a student's browser cannot reach when bound to 0.0.0.0)
  and needs nothing from outside the machine.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import WSCloseCode, web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from playground.serve.access import Access

log = logging.getLogger("playground.serve")

TEMPLATES = Path(__file__).with_name("templates")

QUIT_GRACE_S = 10.0
"""How long an app gets to close after the quit message (a model may be mid-token)."""

TERM_GRACE_S = 5.0
"""And after SIGTERM, before SIGKILL."""


@dataclass(frozen=True)
class Look:
    """How the page and the app look: the Textual theme (None: the app's default), the
    page's font size in CSS pixels, and the page's background while the app starts."""

    theme: str | None = None
    font_size: int = 16
    background: str = "#0c181f"


PROJECTOR = Look(theme="projector", font_size=28, background="#000000")


@dataclass
class Session:
    """One browser tab's app process."""

    number: int
    service: AppProcess
    websocket: web.WebSocketResponse
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int | None:
        return self.service.pid


class AppProcess(AppService):
    """textual-serve's AppService, with the app started as an argv list (so the PID we
    hold is the app's) in a session of its own, and an end that always ends it."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], **kwargs: Any) -> None:
        super().__init__(" ".join(argv), **kwargs)
        self.argv = list(argv)
        self.extra_env = env
        self._tab_gone = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def on_data(self, payload: bytes) -> None:
        """Relay the app's screen; once the tab is gone, keep reading and drop it, so the
        app is never stuck writing while it saves and quits."""
        if self._tab_gone:
            return
        try:
            await self.remote_write_bytes(payload)
        except ConnectionError:
            self._tab_gone = True

    @property
    def returncode(self) -> int | None:
        return self._process.returncode if self._process is not None else None

    async def _open_app_process(
        self, width: int = 80, height: int = 24
    ) -> asyncio.subprocess.Process:
        environment = self._build_environment(width=width, height=height)
        environment.update(self.extra_env)
        self._process = process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=environment,
            start_new_session=True,
        )
        assert process.stdin is not None
        self._stdin = process.stdin
        return process

    async def end(self) -> int | None:
        """Quit the app and wait for its process; returns its exit code."""
        process = self._process
        if process is None:
            return None
        try:
            await asyncio.wait_for(self.stop(), QUIT_GRACE_S)
        except (TimeoutError, ConnectionError, RuntimeError):
            pass
        for sig, grace in ((None, QUIT_GRACE_S), (signal.SIGTERM, TERM_GRACE_S)):
            if process.returncode is not None:
                break
            if sig is not None:
                _signal(process, sig)
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                continue
        if process.returncode is None:
            _signal(process, signal.SIGKILL)
            await process.wait()
        return process.returncode


def _signal(process: asyncio.subprocess.Process, sig: int) -> None:
    try:
        process.send_signal(sig)
    except ProcessLookupError:
        pass


class PlaygroundServer(Server):
    """Serves `python -m playground` to browsers, one app process per tab."""

    def __init__(
        self,
        app_argv: Sequence[str],
        *,
        host: str,
        port: int,
        access: Access,
        max_sessions: int,
        look: Look = Look(),
        app_env: dict[str, str] | None = None,
        banner: Sequence[str] = (),
    ) -> None:
        super().__init__(
            " ".join(app_argv),
            host=host,
            port=port,
            title="playground",
            templates_path=TEMPLATES,
        )
        self.app_argv = list(app_argv)
        self.app_env = dict(app_env or {})
        if look.theme:
            self.app_env["PLAYGROUND_THEME"] = look.theme
        self.access = access
        self.max_sessions = max_sessions
        self.look = look
        self.banner = list(banner)
        self.sessions: dict[int, Session] = {}
        self._numbers = 0

    # ---------------------------------------------------------------- the web app

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        # before anything textual-serve routes: nothing is served without passing it
        app.middlewares.insert(0, self.access.middleware())
        return app

    def initialize_logging(self) -> None:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
        # one line per request would bury the session lines a teacher reads
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

    async def on_startup(self, app: web.Application) -> None:
        for line in self.banner:
            print(line, flush=True)

    async def on_shutdown(self, app: web.Application) -> None:
        """Ctrl+C (or SIGTERM): end every session, then let the server stop."""
        if self.sessions:
            print(f"stopping {len(self.sessions)} session(s)...", flush=True)
        await asyncio.gather(*(self._close(s) for s in list(self.sessions.values())))

    async def _close(self, session: Session) -> None:
        await session.service.end()
        await session.websocket.close(code=WSCloseCode.GOING_AWAY, message=b"server stopped")

    def has_room(self) -> bool:
        return len(self.sessions) < self.max_sessions

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        """The page that runs textual-serve's terminal, or the page saying all sessions are
        in use (HTTP 503, so scripts see it too)."""
        static = "/static/"
        if not self.has_room():
            response = aiohttp_jinja2.render_template(
                "full.html",
                request,
                {"limit": self.max_sessions, "static": static, "look": self.look},
            )
            response.set_status(503)
            return response
        scheme = "wss" if request.secure else "ws"
        context = {
            "title": "playground",
            "static": static,
            "websocket_url": f"{scheme}://{request.host}/ws",
            "font_size": to_int(request.query.get("fontsize", ""), self.look.font_size),
            "look": self.look,
        }
        return aiohttp_jinja2.render_template("index.html", request, context)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """One tab: start its app, relay until the tab goes, then end the app."""
        if not self.has_room():
            # checked and taken with no await in between, so two tabs cannot both get the
            # last place
            raise web.HTTPServiceUnavailable(
                text=f"all {self.max_sessions} playground sessions are in use\n"
            )
        websocket = web.WebSocketResponse(heartbeat=15)
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        self._numbers += 1
        service = AppProcess(
            self.app_argv,
            self.app_env,
            write_bytes=websocket.send_bytes,
            write_str=websocket.send_str,
            close=websocket.close,
            download_manager=self.download_manager,
            debug=self.debug,
        )
        session = Session(self._numbers, service, websocket)
        self.sessions[session.number] = session
        try:
            await websocket.prepare(request)
            await service.start(width, height)
            print(
                f"session {session.number} started: pid {service.pid} "
                f"({len(self.sessions)}/{self.max_sessions} in use)",
                flush=True,
            )
            await self._process_messages(websocket, service)
        except (asyncio.CancelledError, ConnectionError):
            pass
        except Exception:
            log.exception("session %s failed", session.number)
        finally:
            code = await asyncio.shield(service.end())
            self.sessions.pop(session.number, None)
            print(
                f"session {session.number} ended: pid {service.pid} exit {code} "
                f"after {time.monotonic() - session.started:.0f} s",
                flush=True,
            )
        return websocket


def app_argv(config_path: Path | None) -> list[str]:
    """The command each tab runs: this very `playground`, with the server's config."""
    argv = [sys.executable, "-m", "playground"]
    if config_path is not None:
        argv += ["--config", str(config_path)]
    return argv


def child_environment() -> dict[str, str]:
    """What the app processes need beyond the server's own environment: the checkout the
    server runs from comes first on their import path too."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH", "")
    parts = [p for p in path.split(os.pathsep) if p]
    return {"PYTHONPATH": os.pathsep.join([root, *[p for p in parts if p != root]])}
