"""SVG snapshots of the main views on the tiny pair, at 80x24 and larger.

Flake guards: the input's cursor blink is off, every worker (loads, both streams, the
shift scoring) has finished before the picture, and the measured tok/s in the status lines
is masked (it is timing, not layout).
"""

from __future__ import annotations

import re
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input

from playground.config import Config
from playground.ui.app import PlaygroundApp
from tests.ui.conftest import models_loaded, turn_done, wait_until

RATE = re.compile(r"[\d.]+ tok/s")


async def _one_turn(pilot: Pilot[int], *keys: str) -> None:
    app = pilot.app
    assert isinstance(app, PlaygroundApp)
    app.query_one("#prompt", Input).cursor_blink = False
    await models_loaded(pilot)
    app.query_one("#prompt", Input).value = "Hello"
    await pilot.press("enter")
    await turn_done(pilot)
    aligned = app.transcripts["aligned"].turns[-1]
    await wait_until(pilot, lambda: len(aligned.other) == len(aligned.events))
    await app.workers.wait_for_complete()
    for side in ("base", "aligned"):
        pane = app.pane(side)
        pane.set_status(RATE.sub("- tok/s", pane.status_text))
    if keys:
        await pilot.press(*keys)
    await pilot.pause()


def test_text_view_80x24(snap_compare, tiny_config: Config, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    app = PlaygroundApp(tiny_config, max_tokens=12)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_one_turn)


def test_raw_view(snap_compare, tiny_config: Config, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    app = PlaygroundApp(tiny_config, max_tokens=12)

    async def run(pilot: Pilot[int]) -> None:
        await _one_turn(pilot, "f2")

    assert snap_compare(app, terminal_size=(110, 32), run_before=run)


def test_probability_view_with_inspector(snap_compare, tiny_config: Config, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    app = PlaygroundApp(tiny_config, max_tokens=12)

    async def run(pilot: Pilot[int]) -> None:
        await _one_turn(pilot, "f2", "f2")
        assert isinstance(pilot.app, PlaygroundApp)
        pilot.app.pane("aligned").focus()
        await pilot.press("home", "right", "right")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(110, 32), run_before=run)


def test_help_screen(snap_compare, tiny_config: Config, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    app = PlaygroundApp(tiny_config, load_models=False)

    async def run(pilot: Pilot[int]) -> None:
        pilot.app.query_one("#prompt", Input).cursor_blink = False
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run)
