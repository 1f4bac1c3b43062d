"""`playground` with no subcommand: open the app on the configured pair."""

from __future__ import annotations

import argparse


def run_app(args: argparse.Namespace) -> int:
    """Run the app until the user quits; returns the exit code."""
    from playground.ui.app import PlaygroundApp

    app = PlaygroundApp(config_path=getattr(args, "config", None))
    result = app.run()
    return int(result or 0)
