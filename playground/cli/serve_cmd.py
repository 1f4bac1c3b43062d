"""`playground serve`: the app in a browser tab, for a projector or a classroom.

Every tab gets its own app process (textual-serve), on the same models.toml and the same
data dir as the terminal app, so a conversation started in one resumes in the other.
"""

from __future__ import annotations

import argparse
import errno
import socket
from typing import Any

from playground.cli.common import CliError, config_from, fail

DEFAULT_PORT = 8000


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve the app to web browsers (one app process per tab)",
        description="Serve the app to web browsers: every tab runs its own copy of the app, "
        "with every key and screen. Binds 127.0.0.1 unless told otherwise; any other "
        "address needs --allow-remote and then an access token, printed in the URL.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 8000)")
    p.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="models.toml for every session (else as for the terminal app)",
    )
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host other machines can reach; every request then needs the access "
        "token ($PLAYGROUND_SERVE_TOKEN, or one generated now and printed in the URL)",
    )
    p.add_argument(
        "--token",
        action="store_true",
        help="ask for the access token on 127.0.0.1 too (a machine other people log in to)",
    )
    p.add_argument(
        "--max-sessions",
        type=_positive,
        metavar="N",
        help="most tabs served at once (default: what the machine's free memory holds for "
        "this pair, printed at start)",
    )
    p.add_argument(
        "--projector",
        action="store_true",
        help="large font and a high-contrast theme, for a projector",
    )
    p.add_argument(
        "--font-size",
        type=_positive,
        metavar="PX",
        help="the page's font size in pixels (default 16, 28 with --projector)",
    )
    p.set_defaults(run=run)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too small; it must be at least 1")
    return value


def run(args: argparse.Namespace) -> int:
    try:
        server = build_server(args)
    except CliError as exc:
        return fail(str(exc))
    try:
        server.serve()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return fail(
                f"port {args.port} on {args.host} is already in use. Fix: --port with "
                "another number, or stop the other server"
            )
        if exc.errno == errno.EADDRNOTAVAIL:
            return fail(f"{args.host} is not an address of this machine. Fix: --host")
        return fail(f"cannot serve on {args.host}:{args.port}: {exc}")
    return 0


def build_server(args: argparse.Namespace) -> Any:
    """Check the arguments and the config, and make the server (not started).

    Raises:
        CliError: with what to change.
    """
    from playground.serve.access import Access, AccessError, is_loopback, new_token, token_from_env
    from playground.serve.capacity import default_capacity
    from playground.serve.server import PROJECTOR, Look, PlaygroundServer, app_argv

    loopback = is_loopback(args.host)
    if not loopback and not args.allow_remote:
        raise CliError(
            f"--host {args.host} lets other machines reach the app. Fix: add --allow-remote "
            "to mean it (every request then needs the access token printed at start), or "
            "leave --host out to serve this machine only"
        )
    config = config_from(args)
    token: str | None = None
    if not loopback or args.token:
        try:
            token = token_from_env() or new_token()
        except AccessError as exc:
            raise CliError(str(exc)) from None
    capacity = default_capacity(config)
    max_sessions = args.max_sessions or capacity.sessions
    look = PROJECTOR if args.projector else Look()
    if args.font_size:
        look = Look(look.theme, args.font_size, look.background)
    pair = f"{config.models[config.pair.base].name} / {config.models[config.pair.aligned].name}"
    limit = (
        f"{max_sessions} (--max-sessions)"
        if args.max_sessions
        else f"{capacity.explain()}; --max-sessions to change"
    )
    banner = [
        "playground serve: the app in a browser, one app process per tab",
        f"  config:   {config.source} ({pair})",
        f"  sessions: at most {limit}",
        *(f"  open:     {url}" for url in urls(args.host, args.port, token)),
        "Ctrl+C ends every session (conversations are saved) and stops the server.",
    ]
    return PlaygroundServer(
        app_argv(config.source),
        host=args.host,
        port=args.port,
        access=Access(token=token, loopback=loopback, port=args.port),
        max_sessions=max_sessions,
        look=look,
        app_env=_child_env(),
        banner=banner,
    )


def _child_env() -> dict[str, str]:
    from playground.serve.server import child_environment

    return child_environment()


def urls(host: str, port: int, token: str | None) -> list[str]:
    """The URLs to print: the one to use here, and for a wildcard bind the machine's name
    for the others (as Jupyter prints them)."""
    query = f"?token={token}" if token else ""
    if host in ("0.0.0.0", "::", ""):
        names = [socket.gethostname(), "127.0.0.1"]
    else:
        names = [f"[{host}]" if ":" in host and not host.startswith("[") else host]
    return [f"http://{name}:{port}/{query}" for name in names]
