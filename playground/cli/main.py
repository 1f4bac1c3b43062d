"""Entry point of the `playground` command.

Each subcommand lives in its own module with `add_parser(subparsers)` and `run(args)`, so
the CLI stays a thin layer over the core, like the TUI.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from playground import __version__

# (module under playground.cli, subcommand name)
SUBCOMMANDS: tuple[tuple[str, str], ...] = (
    ("models_cmd", "models"),
    ("generate_cmd", "generate"),
    ("tokenize_cmd", "tokenize"),
    ("templates_cmd", "templates"),
    ("compare_cmd", "compare"),
    ("lesson_cmd", "lesson"),
    ("serve_cmd", "serve"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="playground",
        description="A base and an aligned language model side by side. "
        "With no subcommand, opens the terminal app on the default pair.",
    )
    parser.add_argument("--version", action="version", version=f"playground {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="models.toml to use (else $PLAYGROUND_CONFIG, the user config, the packaged one)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name, _command in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"playground.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"playground.cli.{module_name}":
                continue  # a subcommand not built in this checkout
            raise
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from playground.ui.launch import run_app

        return int(run_app(args))
    try:
        return int(args.run(args))
    except BrokenPipeError:
        # The reader went away (`playground generate --json | head`): stop quietly, as Unix
        # tools do. Point stdout at /dev/null so the interpreter's last flush is quiet too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE: what a shell reports for a tool stopped by a closed pipe."""


if __name__ == "__main__":
    sys.exit(main())
