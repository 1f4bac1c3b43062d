"""models.toml: the typed model registry, and errors that point at the exact line.

An error in a user's file names the file, the line and the key, and says what would be
valid; tomllib reports positions only for syntax errors, so schema errors find their line
by scanning the text for the table and key.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Role = Literal["base", "aligned"]

_SERVER_KEYS = frozenset(
    {
        # a model on a server (kind = "llama-server" or "vllm")
        "kind",
        "url",
        "server_model",
        "api_key_env",
        "connect_timeout",
        "read_timeout",
        "ca_file",
        "max_top_k",
        "tokenizer",
    }
)
_MODEL_KEYS = {
    "name",
    "role",
    "path",
    "package",
    "pip",
    "n_ctx",
    "threads",
    "n_gpu_layers",
    "template",
    "system",
} | _SERVER_KEYS
KINDS = ("gguf", "llama-server", "vllm")
"""Where a model runs: a GGUF in this process, or a server."""
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REMOTE_ONLY = (
    "url",
    "server_model",
    "api_key_env",
    "connect_timeout",
    "read_timeout",
    "ca_file",
    "tokenizer",
)
_TOP_KEYS = {"pair", "models", "presets"}


class ConfigError(Exception):
    """A problem in models.toml, with file, line and key in the message."""

    def __init__(self, path: Path | str, message: str, line: int | None = None) -> None:
        where = f"{path}" + (f", line {line}" if line else "")
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line


@dataclass(frozen=True)
class ModelSpec:
    """One model entry of models.toml."""

    id: str
    name: str
    """Display name."""
    role: Role
    """'base' (pretrained only) or 'aligned' (SFT/RLHF)."""
    path: Path | None = None
    """A GGUF file; exactly one of path and package is set."""
    package: str | None = None
    """A Python package that ships the GGUF as package data."""
    pip: str | None = None
    """What to pip install when the package is missing."""
    n_ctx: int = 4096
    """Context size in tokens."""
    threads: int = 0
    """CPU threads; 0 means half the cores, so that the pair shares them."""
    n_gpu_layers: int = 0
    """Layers to offload to the GPU: -1 all, 0 none."""
    template: str | None = None
    """Chat template: a built-in name, `gguf` (the model's own) or a Jinja file path; None
    lets playground pick (the GGUF's own template, else a family default)."""
    system: str = ""
    """System prompt sent with every chat turn; empty means none. A small aligned model
    often cannot handle the default system prompt its GGUF template injects, so the
    packaged config sets this explicitly (with a template that has no default)."""
    kind: str = "gguf"
    """Where the model runs: "gguf" (in this process), "llama-server" or "vllm"."""
    url: str | None = None
    """A server's base URL (http:// or https://); required for a server kind."""
    server_model: str | None = None
    """The model's name on the server (llama-server's router mode, vLLM's served name);
    None takes the server's only model."""
    api_key_env: str | None = None
    """The NAME of an environment variable that holds the server's API key (never the key
    itself): it is sent as a bearer header only."""
    connect_timeout: float = 5.0
    """Seconds to wait for a connection to the server."""
    read_timeout: float = 120.0
    """Seconds to wait for an answer, or for the next token of a stream."""
    ca_file: Path | None = None
    """PEM file of CA certificates to trust for an HTTPS server with its own certificate."""
    max_top_k: int = 100
    """The largest top-k asked of a server per token (vLLM: at most its --max-logprobs)."""
    tokenizer: Path | None = None
    """vLLM: a folder with the model's tokenizer.json, for every token's exact bytes (by
    default the server's own model folder, when the server runs on this machine)."""

    @property
    def is_remote(self) -> bool:
        return self.kind != "gguf"

    @property
    def install_hint(self) -> str:
        target = self.pip or (self.package or "").replace("_", "-")
        return f'pip install "{target}"'


@dataclass(frozen=True)
class PairSpec:
    base: str
    """Id of the default base model."""
    aligned: str
    """Id of the default aligned model."""


@dataclass(frozen=True)
class Config:
    """A parsed models.toml and where it came from."""

    source: Path
    """The file that was read."""
    source_kind: str
    """How it was found: --config, $PLAYGROUND_CONFIG, user config, packaged default."""
    models: dict[str, ModelSpec]
    pair: PairSpec
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The user's own sampler presets, raw; playground.sampling validates them."""

    def model(self, model_id: str) -> ModelSpec:
        try:
            return self.models[model_id]
        except KeyError:
            known = ", ".join(sorted(self.models)) or "(none)"
            raise ConfigError(
                self.source, f"no model with id {model_id!r}; known ids: {known}"
            ) from None


def _line_of(text: str, table: str | None, key: str | None) -> int | None:
    """1-based line of `key` inside `[table]` (or of the table header), if found."""
    lines = text.splitlines()
    start = 0
    if table is not None:
        # [models.ID] or [models."ID"], with optional spaces around the dots
        parts = [rf'(?:{re.escape(p)}|"{re.escape(p)}")' for p in table.split(".", 1)]
        plain = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(parts) + r"\s*\]")
        found = None
        for i, line in enumerate(lines):
            if plain.match(line):
                found = i
                break
        if found is None:
            return None
        if key is None:
            return found + 1
        start = found + 1
    if key is None:
        return None
    key_re = re.compile(r"^\s*\"?" + re.escape(key) + r"\"?\s*=")
    for i in range(start, len(lines)):
        if table is not None and lines[i].lstrip().startswith("["):
            break
        if key_re.match(lines[i]):
            return i + 1
    return None


def _expect(
    cond: bool, path: Path, text: str, table: str | None, key: str | None, message: str
) -> None:
    if not cond:
        raise ConfigError(path, message, _line_of(text, table, key))


def parse_config(text: str, path: Path, source_kind: str = "file") -> Config:
    """Parse models.toml text.

    Raises:
        ConfigError: syntax or schema problems, with file, line and key.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError(
            path,
            f"not valid TOML: {exc}. Fix the syntax at that spot (see toml.io).",
            int(m.group(1)) if m else None,
        ) from None
    for key in data:
        _expect(
            key in _TOP_KEYS,
            path,
            text,
            None,
            key,
            f"unknown top-level key {key!r}; valid: [pair], [models.ID], [presets.NAME]",
        )
    raw_models = data.get("models")
    _expect(
        isinstance(raw_models, dict) and bool(raw_models),
        path,
        text,
        None,
        None,
        "no models: add at least one [models.ID] table with a path or package",
    )
    assert isinstance(raw_models, dict)
    models: dict[str, ModelSpec] = {}
    for mid, raw in raw_models.items():
        table = f"models.{mid}"
        _expect(
            isinstance(raw, dict),
            path,
            text,
            None,
            "models",
            f"[{table}] must be a table with name, role and path or package",
        )
        models[mid] = _parse_model(mid, raw, path, text, table)
    raw_pair = data.get("pair", {})
    _expect(
        isinstance(raw_pair, dict),
        path,
        text,
        None,
        "pair",
        "[pair] must be a table with base = ID and aligned = ID",
    )
    pair = _parse_pair(raw_pair, models, path, text)
    presets = data.get("presets", {})
    _expect(
        isinstance(presets, dict),
        path,
        text,
        None,
        "presets",
        "[presets.NAME] tables hold sampler settings",
    )
    return Config(
        source=path, source_kind=source_kind, models=models, pair=pair, presets=dict(presets)
    )


def _parse_model(mid: str, raw: dict[str, Any], path: Path, text: str, table: str) -> ModelSpec:
    for key in raw:
        _expect(
            key in _MODEL_KEYS,
            path,
            text,
            table,
            key,
            f"unknown key {key!r} in [{table}]; valid keys: "
            f"{', '.join(sorted(_MODEL_KEYS - _SERVER_KEYS))}; for a model on a server: "
            f"{', '.join(sorted(_SERVER_KEYS))}",
        )

    def string(key: str, required: bool = False) -> str | None:
        value = raw.get(key)
        if value is None:
            _expect(not required, path, text, table, None, f'[{table}] needs {key} = "..."')
            return None
        _expect(
            isinstance(value, str) and bool(value.strip()),
            path,
            text,
            table,
            key,
            f"{key} in [{table}] must be a non-empty string",
        )
        return str(value)

    def integer(key: str, default: int, low: int) -> int:
        value = raw.get(key, default)
        _expect(
            isinstance(value, int) and not isinstance(value, bool) and value >= low,
            path,
            text,
            table,
            key,
            f"{key} in [{table}] must be an integer >= {low}, not {value!r}",
        )
        return int(value)

    role = string("role", required=True)
    _expect(
        role in ("base", "aligned"),
        path,
        text,
        table,
        "role",
        f'role in [{table}] must be "base" or "aligned", not {role!r}',
    )
    kind = string("kind") or "gguf"
    _expect(
        kind in KINDS,
        path,
        text,
        table,
        "kind",
        f"kind in [{table}] must be one of {', '.join(repr(k) for k in KINDS)}, not {kind!r}",
    )
    file_path = string("path")
    package = string("package")
    if kind == "gguf":
        _expect(
            (file_path is None) != (package is None),
            path,
            text,
            table,
            None,
            f'[{table}] needs exactly one of path = "file.gguf" or package = "python_pkg"',
        )
        for key in _REMOTE_ONLY:
            _expect(
                key not in raw,
                path,
                text,
                table,
                key,
                f'{key} in [{table}] is for a model on a server: add kind = "llama-server" '
                'or kind = "vllm" (or remove it)',
            )
    else:
        for key in ("path", "package", "n_gpu_layers", "threads"):
            _expect(
                key not in raw,
                path,
                text,
                table,
                key,
                f"{key} in [{table}] does not apply to kind = {kind!r}: the server loads the "
                "model; remove it",
            )
    remote = _parse_remote(raw, kind, path, text, table, string)
    resolved: Path | None = None
    if file_path is not None:
        try:
            resolved = Path(file_path).expanduser()
            if not resolved.is_absolute():
                resolved = (path.parent / resolved).resolve()
        except (RuntimeError, ValueError, OSError) as exc:
            raise ConfigError(
                path,
                f"path in [{table}] cannot be used: {exc}. Fix: give the path of a .gguf "
                "file (absolute, ~/..., or relative to this file)",
                _line_of(text, table, "path"),
            ) from None
    return ModelSpec(
        id=mid,
        name=string("name") or mid,
        role=role,  # type: ignore[arg-type]
        path=resolved,
        package=package,
        pip=string("pip"),
        n_ctx=integer("n_ctx", 4096, 16),
        threads=integer("threads", 0, 0),
        n_gpu_layers=integer("n_gpu_layers", 0, -1),
        template=string("template"),
        system=_system(raw, path, text, table),
        **remote,
    )


def _parse_remote(
    raw: dict[str, Any], kind: str, path: Path, text: str, table: str, string: Any
) -> dict[str, Any]:
    """The server keys of a model entry (empty for a GGUF one)."""
    if kind == "gguf":
        return {}
    url = string("url", required=True)
    _expect(
        url.startswith(("http://", "https://")) and len(url.split("://", 1)[1].strip("/")) > 0,
        path,
        text,
        table,
        "url",
        f"url in [{table}] must be http://HOST:PORT or https://HOST:PORT, not {url!r}",
    )
    key_env = string("api_key_env")
    if key_env is not None:
        _expect(
            bool(_ENV_NAME.match(key_env)),
            path,
            text,
            table,
            "api_key_env",
            f"api_key_env in [{table}] is the NAME of an environment variable that holds the "
            'key (e.g. "LLAMA_API_KEY"), never the key itself',
        )

    def seconds(key: str, default: float) -> float:
        value = raw.get(key, default)
        _expect(
            isinstance(value, int | float) and not isinstance(value, bool) and value > 0,
            path,
            text,
            table,
            key,
            f"{key} in [{table}] must be a number of seconds > 0, not {value!r}",
        )
        return float(value)

    top = raw.get("max_top_k", 100 if kind == "llama-server" else 20)
    _expect(
        isinstance(top, int) and not isinstance(top, bool) and 1 <= top <= 1000,
        path,
        text,
        table,
        "max_top_k",
        f"max_top_k in [{table}] must be an integer from 1 to 1000, not {top!r}",
    )

    def local_path(key: str) -> Path | None:
        value = string(key)
        if value is None:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else (path.parent / p).resolve()

    tok = local_path("tokenizer")
    _expect(
        tok is None or kind == "vllm",
        path,
        text,
        table,
        "tokenizer",
        f'tokenizer in [{table}] is for kind = "vllm" (llama-server gives exact bytes itself)',
    )
    return {
        "kind": kind,
        "url": url.rstrip("/"),
        "server_model": string("server_model"),
        "api_key_env": key_env,
        "connect_timeout": seconds("connect_timeout", 5.0),
        "read_timeout": seconds("read_timeout", 120.0),
        "ca_file": local_path("ca_file"),
        "max_top_k": int(top),
        "tokenizer": tok,
    }


def _system(raw: dict[str, Any], path: Path, text: str, table: str) -> str:
    """The system prompt: any string, empty for none."""
    value = raw.get("system", "")
    _expect(
        isinstance(value, str),
        path,
        text,
        table,
        "system",
        f'system in [{table}] must be a string (the system prompt; "" for none), not {value!r}',
    )
    return str(value)


def _parse_pair(
    raw: dict[str, Any], models: dict[str, ModelSpec], path: Path, text: str
) -> PairSpec:
    for key in raw:
        _expect(
            key in ("base", "aligned"),
            path,
            text,
            "pair",
            key,
            f"unknown key {key!r} in [pair]; valid keys: base, aligned",
        )
    ids = sorted(models)

    def pick(role: Role) -> str:
        value = raw.get(role)
        if value is None:
            for mid in ids:
                if models[mid].role == role:
                    return mid
            return ids[0]
        _expect(
            isinstance(value, str) and value in models,
            path,
            text,
            "pair",
            role,
            f"{role} = {value!r} in [pair] is not a model id; known ids: {', '.join(ids)}",
        )
        return str(value)

    return PairSpec(base=pick("base"), aligned=pick("aligned"))
