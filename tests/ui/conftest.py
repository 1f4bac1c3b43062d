"""Fixtures for driving the whole app on the tiny GGUF pair.

Each test gets its own data dir (conversations land in tmp) and a models.toml that points
at the tiny pair, in the lead's config format.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from playground.config import Config, load_config
from playground.engine.types import TokenEvent, TokenKind
from playground.ui.app import PlaygroundApp

SIZE = (100, 30)


def write_models_toml(folder: Path, base: Path, aligned: Path, **extra: str) -> Path:
    """A models.toml for the tiny pair; `extra` adds raw lines to the aligned entry."""
    more = "".join(f"{k} = {v}\n" for k, v in extra.items())
    path = folder / "models.toml"
    path.write_text(
        f"""[pair]
base = "tiny-base"
aligned = "tiny-aligned"

[models.tiny-base]
name = "Tiny base"
role = "base"
path = "{base}"
n_ctx = 256
threads = 1

[models.tiny-aligned]
name = "Tiny aligned"
role = "aligned"
path = "{aligned}"
n_ctx = 256
threads = 1
{more}
[models.broken]
name = "Broken file"
role = "base"
path = "{folder / "broken.gguf"}"
""",
        encoding="utf-8",
    )
    (folder / "broken.gguf").write_bytes(b"GGUF" + b"\x00" * 64)
    return path


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def tiny_config(tiny_pair, tmp_path: Path) -> Config:  # type: ignore[no-untyped-def]
    return load_config(write_models_toml(tmp_path, tiny_pair.base, tiny_pair.aligned))


async def wait_until(pilot: Pilot[int], cond: Callable[[], bool], timeout: float = 20.0) -> None:
    """Let the app run until `cond()` holds (models and streams run in real threads)."""
    import asyncio

    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)


async def models_loaded(pilot: Pilot[int]) -> None:
    app = pilot.app
    assert isinstance(app, PlaygroundApp)
    await wait_until(pilot, lambda: all(app.models.values()) or bool(app.load_errors))


async def turn_done(pilot: Pilot[int], sides: tuple[str, ...] = ("base", "aligned")) -> None:
    app = pilot.app
    assert isinstance(app, PlaygroundApp)

    def done() -> bool:
        lasts = [app.transcripts[s].last for s in sides]
        return all(t is not None and t.reason is not None for t in lasts)

    await wait_until(pilot, done)
    await app.workers.wait_for_complete()
    await pilot.pause()


AppRunner = Callable[[PlaygroundApp], Awaitable[None]]


def text_event(n: int, text: str) -> TokenEvent:
    """A plain reply token `n` whose piece is `text`, as a stream would give it (no model:
    for widget tests that feed a transcript by hand)."""
    return TokenEvent(
        index=n,
        id=n,
        piece=text.encode(),
        kind=TokenKind.NORMAL,
        text=text,
        logprob=-0.1,
        top=(),
        prob_after=0.9,
    )
