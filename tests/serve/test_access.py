"""Who gets in: beyond loopback every route needs the token (the page, the scripts, the
WebSocket); on loopback a foreign Host or a cross-site WebSocket is refused; the session
limit refuses the tab over it; Ctrl+C ends every session. A real server, real sockets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from playground.cli.main import main
from tests.serve.serving import children_of, pid_alive, serve_env, serving, wait_for

WS_QUERY = "/ws?width=100&height=30"


async def _status(session: aiohttp.ClientSession, url: str, **kw: object) -> tuple[int, str]:
    async with session.get(url, **kw) as response:  # type: ignore[arg-type]
        return response.status, await response.text()


async def _ws_refused(session: aiohttp.ClientSession, url: str, **kw: object) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        async with session.ws_connect(url, **kw):  # type: ignore[arg-type]
            pass
    return refused.value.status


def test_other_host_needs_allow_remote(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "--allow-remote" in err and "0.0.0.0" in err


def test_short_token_from_env_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, serve_config: Path
) -> None:
    monkeypatch.setenv("PLAYGROUND_SERVE_TOKEN", "abc")
    args = ["serve", "--config", str(serve_config), "--host", "0.0.0.0", "--allow-remote"]
    assert main(args) == 2
    assert "PLAYGROUND_SERVE_TOKEN" in capsys.readouterr().err


async def test_beyond_loopback_nothing_without_the_token(
    serve_config: Path, serve_data: Path
) -> None:
    args = ["--config", str(serve_config), "--host", "0.0.0.0", "--allow-remote"]
    with serving(args, serve_env(serve_data)) as server:
        token = server.token()
        assert len(token) >= 16
        async with aiohttp.ClientSession() as http:
            for path in ("/", "/static/js/textual.js", "/static/css/xterm.css", WS_QUERY):
                status, body = await _status(http, server.url(path))
                assert status == 403, path
                assert "access token" in body and "textual" not in body.lower()
            status, _ = await _status(http, server.url("/?token=" + "x" * len(token)))
            assert status == 403
            assert await _ws_refused(http, server.url(WS_QUERY)) == 403
            wrong = {"Cookie": f"playground-token-{server.port}=nope"}
            assert await _ws_refused(http, server.url(WS_QUERY), headers=wrong) == 403
            assert server.started_pids() == []
            assert children_of(server.proc.pid) == set()

        # with the token: the page, then (by the cookie the page set) scripts and a session;
        # unsafe: keep cookies of an IP address, as browsers do
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            status, body = await _status(http, server.url(f"/?token={token}"))
            assert status == 200 and "textual.js" in body
            status, _ = await _status(http, server.url("/static/js/textual.js"))
            assert status == 200
            async with http.ws_connect(server.url(WS_QUERY)) as ws:
                (pid,) = server.wait_sessions(1)
                assert pid in children_of(server.proc.pid)
                await ws.receive(timeout=30)  # the app's first screen bytes
            wait_for(lambda: not pid_alive(pid), 30, "the app to end with its socket")


async def test_loopback_refuses_foreign_host_and_cross_site_socket(
    serve_config: Path, serve_data: Path
) -> None:
    with serving(["--config", str(serve_config)], serve_env(serve_data)) as server:
        async with aiohttp.ClientSession() as http:
            status, body = await _status(http, server.url())
            assert status == 200 and "textual.js" in body
            status, body = await _status(
                http, server.url(), headers={"Host": f"evil.example:{server.port}"}
            )
            assert status == 403 and "loopback" in body
            evil = {"Origin": "http://evil.example"}
            assert await _ws_refused(http, server.url(WS_QUERY), headers=evil) == 403
            assert server.started_pids() == []


async def test_session_limit_refuses_the_tab_over_it(serve_config: Path, serve_data: Path) -> None:
    args = ["--config", str(serve_config), "--max-sessions", "1"]
    with serving(args, serve_env(serve_data)) as server:
        assert "at most 1 (--max-sessions)" in server.output
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(server.url(WS_QUERY)) as first:
                (pid,) = server.wait_sessions(1)
                await first.receive(timeout=30)
                status, body = await _status(http, server.url())
                assert status == 503
                assert "The only playground session is in use" in body
                assert "textual.js" not in body
                assert await _ws_refused(http, server.url(WS_QUERY)) == 503
                assert server.started_pids() == [pid]
            wait_for(lambda: not pid_alive(pid), 30, "the first session to end")
            wait_for(lambda: pid in server.ended(), 10, "the end to be reported")
            status, body = await _status(http, server.url())
            assert status == 200 and "textual.js" in body


async def test_ctrl_c_ends_every_session_cleanly(serve_config: Path, serve_data: Path) -> None:
    with serving(["--config", str(serve_config)], serve_env(serve_data)) as server:
        async with aiohttp.ClientSession() as http:
            sockets = [await http.ws_connect(server.url(WS_QUERY)) for _ in range(2)]
            pids = server.wait_sessions(2)
            for ws in sockets:
                await ws.receive(timeout=30)
            await asyncio.sleep(0)
            assert server.interrupt() == 0
            for ws in sockets:
                await ws.close()
    assert not any(pid_alive(p) for p in pids)
    assert server.ended() == {p: "0" for p in pids}, server.output
    assert "stopping 2 session(s)" in server.output
