"""models.toml, config discovery and the model registry (no Textual here)."""

from __future__ import annotations

from playground.config.models import Config, ConfigError, ModelSpec, PairSpec
from playground.config.registry import (
    ModelStatus,
    PackageMissing,
    load_config,
    model_status,
    open_model,
    open_path,
    resolve_model_path,
)

__all__ = [
    "Config",
    "ConfigError",
    "ModelSpec",
    "ModelStatus",
    "PackageMissing",
    "PairSpec",
    "load_config",
    "model_status",
    "open_model",
    "open_path",
    "resolve_model_path",
]
