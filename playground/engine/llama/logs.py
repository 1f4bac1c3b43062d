"""llama.cpp's log, captured through its log callback.

llama-cpp-python's `verbose=False` redirects file descriptors 1 and 2 to /dev/null while a
model loads, which blanks a running TUI. Instead one callback, installed once, routes every
llama.cpp line into Python logging and a small ring buffer the UI can show.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import threading
from typing import Any

logger = logging.getLogger("playground.llama")

# ggml_log_level as ggml.h has it now: NONE, DEBUG, INFO, WARN, ERROR, CONT. (The
# wrapper's own table is the older order and files INFO lines as warnings.)
_LEVELS = {
    0: logging.CRITICAL,
    1: logging.DEBUG,
    2: logging.INFO,
    3: logging.WARNING,
    4: logging.ERROR,
}

_lock = threading.Lock()
_installed: Any = None  # keeps the ctypes callback alive for the life of the process
_recent: collections.deque[tuple[int, str]] = collections.deque(maxlen=500)
_last_level = logging.INFO
_partial: list[str] = []


def _on_log(level: int, text: bytes | None, _user: Any) -> None:
    global _last_level
    line = (text or b"").decode("utf-8", errors="replace")
    lvl = _last_level if level == 5 else _LEVELS.get(level, logging.DEBUG)
    _last_level = lvl
    _partial.append(line)
    if not line.endswith("\n"):
        return
    whole = "".join(_partial).rstrip("\n")
    _partial.clear()
    _recent.append((lvl, whole))
    logger.log(lvl, "%s", whole)


def install() -> None:
    """Route llama.cpp's log to Python logging. Idempotent; call before the first load."""
    global _installed
    with _lock:
        if _installed is not None:
            return
        import llama_cpp

        cb = llama_cpp.llama_log_callback(_on_log)
        llama_cpp.llama_log_set(cb, ctypes.c_void_p(0))
        _installed = cb


def recent(min_level: int = logging.WARNING) -> list[str]:
    """The latest captured lines at or above `min_level`, oldest first."""
    return [text for lvl, text in list(_recent) if lvl >= min_level]
