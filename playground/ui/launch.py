"""`playground` with no subcommand: open the app on the configured pair."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playground.ui.app import PlaygroundApp


def exit_code(app: PlaygroundApp, result: int | None) -> int:
    """The process's exit status: non-zero after a crash (Textual's return_code), with a
    line on stderr that says where the conversation so far is saved."""
    code = app.return_code or 0
    if code:
        store = app.store
        where = (
            f"the conversation so far is saved in {store.path}; Ctrl+O in a new session resumes it"
            if store is not None and store.problem is None
            else "nothing had been saved yet"
        )
        print(f"playground: stopped by an internal error; {where}.", file=sys.stderr)
        return code
    return int(result or 0)


def run_app(args: argparse.Namespace) -> int:
    """Run the app until the user quits; returns the exit code."""
    from playground.ui.app import PlaygroundApp

    app = PlaygroundApp(config_path=getattr(args, "config", None))
    result = app.run()
    return exit_code(app, result)
