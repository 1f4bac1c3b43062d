"""A small JSON-over-HTTP client for model servers, on the standard library only.

It owns what every server backend needs and nothing model-specific: HTTP and HTTPS, the
bearer key, separate connect and read timeouts, server-sent events, and turning every
failure into one of the errors in `playground.engine.remote.errors`. The API key is read
from the environment variable models.toml names, sent only in the Authorization header,
and appears in no message, log line or repr.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from playground.engine.remote.errors import (
    ApiKeyMissing,
    ServerHTTPError,
    ServerProtocolError,
    ServerTimeout,
    ServerUnreachable,
    StreamDropped,
)


@dataclass(frozen=True)
class Endpoint:
    """Where a server is and how to talk to it (from a models.toml entry)."""

    url: str
    """Base URL, e.g. http://127.0.0.1:8080 or https://gpu-box.example:8443/llama."""
    api_key_env: str | None = None
    """Name of the environment variable that holds the API key (never the key)."""
    connect_timeout: float = 5.0
    """Seconds to wait for the TCP (and TLS) connection."""
    read_timeout: float = 120.0
    """Seconds to wait for any answer or for the next token of a stream."""
    ca_file: str | None = None
    """A PEM file of CA certificates to trust for HTTPS (a self-signed server)."""

    @property
    def is_loopback(self) -> bool:
        host = urlsplit(self.url).hostname or ""
        return host in ("localhost", "::1") or host.startswith("127.")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running on that port?)"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"its TLS certificate is not trusted ({exc.verify_message}); set ca_file"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason})"
    return f"{type(exc).__name__}: {exc}"


class HttpClient:
    """JSON requests and event streams against one server. Thread-safe: each thread gets
    its own keep-alive connection, and every stream has a connection of its own."""

    def __init__(self, endpoint: Endpoint, kind: str = "server") -> None:
        parts = urlsplit(endpoint.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ServerUnreachable(
                endpoint.url, "the url must start with http:// or https:// and name a host", kind
            )
        self.endpoint = endpoint
        self.url = endpoint.url.rstrip("/")
        self.kind = kind
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._local = threading.local()
        self._api_key: str | None = None
        if endpoint.api_key_env:
            key = os.environ.get(endpoint.api_key_env)
            if not key:
                raise ApiKeyMissing(self.url, endpoint.api_key_env)
            self._api_key = key
        self.requests = 0
        """Requests sent so far (the benchmark counts them)."""

    def __repr__(self) -> str:
        key = f", key from ${self.endpoint.api_key_env}" if self._api_key else ""
        return f"HttpClient({self.url!r}{key})"

    # ------------------------------------------------------------------ connections

    def _connect(self) -> http.client.HTTPConnection:
        ep = self.endpoint
        conn: http.client.HTTPConnection
        if self._https:
            ctx = ssl.create_default_context(cafile=ep.ca_file)
            conn = http.client.HTTPSConnection(
                self._host, self._port, timeout=ep.connect_timeout, context=ctx
            )
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=ep.connect_timeout)
        try:
            conn.connect()
        except TimeoutError:
            conn.close()
            raise ServerUnreachable(
                self.url,
                f"no connection within connect_timeout = {ep.connect_timeout:g} s",
                self.kind,
            ) from None
        except OSError as exc:
            conn.close()
            raise ServerUnreachable(self.url, _reason(exc), self.kind) from None
        assert conn.sock is not None
        conn.sock.settimeout(ep.read_timeout)
        # Never let http.client reconnect by itself: it would read with connect_timeout.
        conn.auto_open = 0
        return conn

    def _headers(self, body: bool) -> dict[str, str]:
        headers = {"Accept": "application/json, text/event-stream"}
        if body:
            headers["Content-Type"] = "application/json"
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _full_path(self, path: str, query: Mapping[str, str] | None) -> str:
        full = self._prefix + path
        if query:
            full += "?" + urlencode(query)
        return full

    def _send(
        self,
        conn: http.client.HTTPConnection,
        method: str,
        path: str,
        body: Any,
        query: Mapping[str, str] | None,
    ) -> http.client.HTTPResponse:
        data = None if body is None else json.dumps(body).encode("utf-8")
        self.requests += 1
        conn.request(
            method, self._full_path(path, query), body=data, headers=self._headers(data is not None)
        )
        return conn.getresponse()

    def _check(self, resp: http.client.HTTPResponse, path: str) -> None:
        if resp.status < 400:
            return
        raw = resp.read()
        detail = raw.decode("utf-8", "replace").strip()
        try:
            err = json.loads(raw)
            if isinstance(err, dict):
                inner = err.get("error", err)
                if isinstance(inner, dict):
                    detail = str(inner.get("message") or inner)
                elif isinstance(inner, str):
                    detail = inner
                elif "detail" in err:
                    detail = str(err["detail"])
        except ValueError:
            pass
        raise ServerHTTPError(
            self.url, path, resp.status, detail[:500] or resp.reason, self.endpoint.api_key_env
        )

    # ------------------------------------------------------------------ requests

    def request_json(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, str] | None = None,
        what: str | None = None,
    ) -> Any:
        """One request, one JSON answer, on this thread's keep-alive connection.

        Raises:
            ServerUnreachable, ServerTimeout, ServerHTTPError, ServerProtocolError.
        """
        what = what or f"{method} {path}"
        for attempt in (0, 1):
            conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
            fresh = conn is None
            if conn is None:
                conn = self._connect()
                self._local.conn = conn
            try:
                resp = self._send(conn, method, path, body, query)
                self._check(resp, path)
                raw = resp.read()
                break
            except TimeoutError:
                self._drop_conn()
                raise ServerTimeout(
                    self.url, what, self.endpoint.read_timeout, "read_timeout"
                ) from None
            except (
                http.client.RemoteDisconnected,
                http.client.NotConnected,
                BrokenPipeError,
                ConnectionResetError,
            ) as exc:
                self._drop_conn()
                # A kept-alive connection the server closed meanwhile: retry once, fresh.
                if fresh or attempt == 1:
                    raise ServerUnreachable(self.url, _reason(exc), self.kind) from None
            except ServerHTTPError:
                self._drop_conn()
                raise
            except (OSError, http.client.HTTPException) as exc:
                self._drop_conn()
                raise ServerUnreachable(self.url, _reason(exc), self.kind) from None
        try:
            return json.loads(raw)
        except ValueError:
            raise ServerProtocolError(self.url, f"{what} did not return JSON") from None

    def get(self, path: str, query: Mapping[str, str] | None = None) -> Any:
        return self.request_json("GET", path, query=query)

    def post(self, path: str, body: Any, *, what: str | None = None) -> Any:
        return self.request_json("POST", path, body, what=what)

    def _drop_conn(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def stream(self, path: str, body: Any, *, what: str = "the next token") -> EventStream:
        """POST and read server-sent events on a connection of its own.

        Raises:
            ServerUnreachable, ServerHTTPError: before the first event.
        """
        conn = self._connect()
        try:
            resp = self._send(conn, "POST", path, body, None)
            self._check(resp, path)
        except TimeoutError:
            conn.close()
            raise ServerTimeout(
                self.url, what, self.endpoint.read_timeout, "read_timeout"
            ) from None
        except ServerHTTPError:
            conn.close()
            raise
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise ServerUnreachable(self.url, _reason(exc), self.kind) from None
        return EventStream(self, conn, resp, what)

    def close(self) -> None:
        self._drop_conn()


class EventStream:
    """The data events of one server-sent-event response, as parsed JSON.

    Iterating yields each `data:` payload; `[DONE]` ends the stream. An `error:` event (or
    an `error` object in a data event) raises ServerHTTPError; a connection that ends or
    breaks before the caller saw the end raises StreamDropped, with `received` = what the
    caller has counted so far (set `received` while consuming).
    """

    def __init__(
        self,
        client: HttpClient,
        conn: http.client.HTTPConnection,
        resp: http.client.HTTPResponse,
        what: str,
    ) -> None:
        self._client = client
        self._conn = conn
        self._resp = resp
        self._what = what
        self.received = 0
        self.finished = False
        """Set by the caller when it has seen the server's last event."""

    def __iter__(self) -> Iterator[Any]:
        url = self._client.url
        try:
            while True:
                try:
                    line = self._resp.readline()
                except TimeoutError:
                    ep = self._client.endpoint
                    raise ServerTimeout(url, self._what, ep.read_timeout, "read_timeout") from None
                except (OSError, http.client.HTTPException) as exc:
                    raise StreamDropped(url, self.received, _reason(exc)) from None
                if not line:
                    if not self.finished:
                        raise StreamDropped(url, self.received, "the server closed the stream")
                    return
                text = line.decode("utf-8", "replace").strip()
                if not text or text.startswith(":"):
                    continue
                field, _, value = text.partition(":")
                value = value.strip()
                if field == "error":
                    raise self._error(value)
                if field != "data":
                    continue
                if value == "[DONE]":
                    self.finished = True
                    return
                try:
                    event = json.loads(value)
                except ValueError:
                    raise ServerProtocolError(
                        url, f"a stream event is not JSON: {value[:80]!r}"
                    ) from None
                if isinstance(event, dict) and "error" in event and len(event) <= 2:
                    raise self._error(json.dumps(event))
                yield event
        finally:
            self.close()

    def _error(self, value: str) -> ServerHTTPError:
        status = 500
        detail = value
        try:
            err = json.loads(value)
            inner = err.get("error", err) if isinstance(err, dict) else err
            if isinstance(inner, dict):
                status = int(inner.get("code") or 500)
                detail = str(inner.get("message") or inner)
        except (ValueError, TypeError):
            pass
        return ServerHTTPError(self._client.url, "the stream", status, detail[:500])

    def close(self) -> None:
        self._conn.close()
