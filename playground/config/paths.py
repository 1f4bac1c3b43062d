"""Where playground's files live. Nothing here touches the disk at import time.

Each location has an environment override so tests (and users) can point it elsewhere:
PLAYGROUND_CONFIG (the models.toml), PLAYGROUND_DATA_DIR (conversations),
PLAYGROUND_CACHE_DIR (unpacked tokenizer files, assembled models).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import platformdirs

APP = "playground"


def user_config_file() -> Path:
    return Path(platformdirs.user_config_dir(APP, appauthor=False)) / "models.toml"


def data_dir() -> Path:
    env = os.environ.get("PLAYGROUND_DATA_DIR")
    return Path(env) if env else Path(platformdirs.user_data_dir(APP, appauthor=False))


def cache_dir() -> Path:
    env = os.environ.get("PLAYGROUND_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir(APP, appauthor=False))


def packaged_config_file() -> Path:
    """The shipped models.toml: package data in a wheel, the repo root in a checkout."""
    packaged = resources.files("playground.config").joinpath("default_models.toml")
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "models.toml"


def find_config(explicit: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """The models.toml to use and how it was found; first match wins.

    Order: --config, then $PLAYGROUND_CONFIG, then the user config dir, then the packaged
    default. An explicit file that does not exist is returned as is, so the caller's error
    names it rather than silently falling through.
    """
    if explicit:
        return Path(explicit).expanduser(), "--config"
    env = os.environ.get("PLAYGROUND_CONFIG")
    if env:
        return Path(env).expanduser(), "$PLAYGROUND_CONFIG"
    user = user_config_file()
    if user.is_file():
        return user, "user config"
    return packaged_config_file(), "packaged default"
