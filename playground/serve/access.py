"""Who may use a served playground: textual-serve has no authentication, so this sits in
front of every route it has (the page, its scripts, the WebSocket, downloads).

- Bound to loopback, only this machine can connect; no token is asked for, but a request
  must name a loopback host (a page elsewhere cannot reach the server by rebinding its DNS
  name to 127.0.0.1) and a WebSocket must come from the server's own page (a page elsewhere
  cannot open a session in the user's browser and read it).
- Bound to any other address, every request must carry the access token, as Jupyter does:
  `?token=...` in the URL printed at start, then a cookie the first page sets, so the
  page's scripts and its WebSocket carry it too. A request without it gets a 403 and
  nothing of the app.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

TOKEN_ENV = "PLAYGROUND_SERVE_TOKEN"
"""An access token to use instead of a generated one (so a class can keep one URL)."""

MIN_TOKEN_LENGTH = 16

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class AccessError(ValueError):
    """A host or token that `playground serve` refuses to start with."""


def is_loopback(host: str) -> bool:
    """True when `host` (a name or an address, IPv6 with or without brackets) can only be
    reached from this machine."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_of(header: str) -> str:
    """The host part of a Host header or an Origin URL's netloc, without the port."""
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def new_token() -> str:
    return secrets.token_urlsafe(24)


def token_from_env() -> str | None:
    """$PLAYGROUND_SERVE_TOKEN, checked; None when unset.

    Raises:
        AccessError: the variable is set but too short to be a secret.
    """
    value = os.environ.get(TOKEN_ENV, "").strip()
    if not value:
        return None
    if len(value) < MIN_TOKEN_LENGTH:
        raise AccessError(
            f"${TOKEN_ENV} is {len(value)} characters long; an access token needs at least "
            f"{MIN_TOKEN_LENGTH}. Fix: unset it to get a generated token, or set a longer one "
            '(python -c "import secrets; print(secrets.token_urlsafe(24))")'
        )
    return value


@dataclass(frozen=True)
class Access:
    """The rules for one server. `token` is None only on loopback."""

    token: str | None
    loopback: bool
    port: int

    @property
    def cookie_name(self) -> str:
        # cookies are per host, not per port: two servers on one machine keep theirs apart
        return f"playground-token-{self.port}"

    def refusal(self, request: web.Request) -> str | None:
        """Why `request` is refused, or None when it may go on."""
        if self.loopback and not is_loopback(host_of(request.host)):
            return (
                f"this server only answers to a loopback name (localhost, 127.0.0.1), not "
                f"{request.host!r}"
            )
        if self.token is not None:
            given = (
                request.query.get("token")
                or request.cookies.get(self.cookie_name)
                or _bearer(request.headers.get("Authorization", ""))
            )
            if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
                return (
                    "this playground needs its access token. Open the URL that "
                    "`playground serve` printed (it ends in ?token=...)"
                )
        if request.headers.get("Upgrade", "").lower() == "websocket":
            origin = request.headers.get("Origin")
            if origin is not None and urlsplit(origin).netloc.lower() != request.host.lower():
                return f"a WebSocket from another site ({origin}) may not open a session"
        return None

    def middleware(self) -> Middleware:
        """aiohttp middleware: refuse with 403 (and no app content), else go on and, when
        the token came in the URL, keep it in a cookie for the page's scripts and socket."""

        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            reason = self.refusal(request)
            if reason is not None:
                return web.Response(status=403, text=f"403 Forbidden: {reason}\n")
            response = await handler(request)
            if self.token is not None and request.query.get("token") and response.prepared is False:
                response.set_cookie(
                    self.cookie_name, self.token, httponly=True, samesite="Strict", path="/"
                )
            return response

        return guard


def _bearer(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
