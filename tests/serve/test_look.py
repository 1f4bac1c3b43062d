"""The projector look: the app starts in the high-contrast theme when serve asks for it, and
a bad theme name is a message, not a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from playground.config import Config
from playground.ui.app import PlaygroundApp
from playground.ui.themes import PROJECTOR, THEME_ENV


async def test_projector_theme_from_the_environment(
    tiny_config: Config, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(THEME_ENV, "projector")
    app = PlaygroundApp(tiny_config, load_models=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.theme == "projector"
        assert app.current_theme.background == PROJECTOR.background
        assert app.theme_problem is None


async def test_unknown_theme_is_named_and_the_app_runs_on(
    tiny_config: Config, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(THEME_ENV, "beamer")
    app = PlaygroundApp(tiny_config, load_models=False)
    shown: list[str] = []
    notify = app.notify
    monkeypatch.setattr(
        app, "notify", lambda message, **kw: (shown.append(message), notify(message, **kw))
    )
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.theme != "beamer" and app.theme != "projector"
        assert any("'beamer' is not a theme" in m and "projector" in m for m in shown)
        assert app.is_running
