"""What several subcommands share: loading the config and opening a model by id or path."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playground.config import Config, ConfigError, load_config, open_model, open_path
from playground.engine.backend import Backend
from playground.engine.errors import EngineError


class CliError(Exception):
    """Printed as `playground: error: ...` with exit code 2."""


def config_from(args: argparse.Namespace) -> Config:
    try:
        return load_config(getattr(args, "config", None))
    except ConfigError as exc:
        raise CliError(str(exc)) from None


def is_model_path(model_id: str) -> bool:
    """True when a --model / --tokenizer value names a file rather than a models.toml id."""
    return model_id.endswith(".gguf") or Path(model_id).is_file()


def open_by_id(args: argparse.Namespace, model_id: str, models_sharing: int = 1) -> Backend:
    """A model id from models.toml, or a direct path to a .gguf file."""
    try:
        if is_model_path(model_id):
            return open_path(model_id)
        config = config_from(args)
        return open_model(config.model(model_id), models_sharing)
    except (ConfigError, EngineError) as exc:
        raise CliError(str(exc)) from None


def open_pair(args: argparse.Namespace, base_id: str, aligned_id: str) -> tuple[Backend, Backend]:
    """Both models, each with half the cores (as the app runs them); the base is closed
    again when the aligned model fails to open.

    Raises:
        CliError: either model cannot be opened (the message names which and why).
    """
    base = open_by_id(args, base_id, models_sharing=2)
    try:
        aligned = open_by_id(args, aligned_id, models_sharing=2)
    except CliError:
        base.close()
        raise
    return base, aligned


def fail(message: str) -> int:
    print(f"playground: error: {message}", file=sys.stderr)
    return 2
