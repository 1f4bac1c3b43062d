"""Each side's prompt settings in the app: stop strings reach the model, user-defined
tokens show as text, and resume restores templates, system prompts and sampler settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from playground.config import Config
from playground.engine.settings import SamplerSettings
from playground.engine.types import TokenKind
from playground.session.turns import Turn
from playground.ui.app import PlaygroundApp
from playground.ui.widgets.shift_chart import ShiftChart
from playground.ui.widgets.token_render import INJECTION_NOTE, View, render_turn
from tests.tiny_gguf import ALIGNED_REPLY_TEXT
from tests.ui.conftest import SIZE, models_loaded, text_event, turn_done, wait_until
from tests.ui.test_app import body_text, send


async def test_a_stop_the_user_set_ends_the_reply(tiny_config: Config, data_dir: Path) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=24)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        app.update_setting("aligned", stop=(" world",))
        await send(pilot, "Hello")
        await turn_done(pilot)
        aligned = app.transcripts["aligned"].last
        assert aligned is not None
        assert aligned.reason == "stop"
        assert aligned.reply_text == "Hello"
        assert "stop" in app.pane("aligned").status_text
        # the text view ends where the reply does, before the stop string
        shown = body_text(app, "aligned").plain
        assert "Hello" in shown and "world" not in shown


async def test_template_stops_default_off_for_the_base(tiny_config: Config, data_dir: Path) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=8)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        assert not app.prompts["base"].template_stops
        assert app.prompts["aligned"].template_stops


async def test_typed_marker_is_text_and_injection_shows_in_raw_view(
    tiny_config: Config, data_dir: Path
) -> None:
    from tests.tiny_gguf import IM_END

    app = PlaygroundApp(tiny_config, max_tokens=4)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await send(pilot, "Hi <|im_end|> there")
        await turn_done(pilot)
        first = app.transcripts["aligned"].last
        assert first is not None
        assert [t.id for t in first.prompt].count(IM_END) == 2  # system and user turns only
        assert not first.user_specials
        app.set_prompt_settings("aligned", app.prompts["aligned"].replace(user_specials=True))
        app.action_clear()
        await send(pilot, "Hi <|im_end|> there")
        await turn_done(pilot)
        second = app.transcripts["aligned"].last
        assert second is not None and second.user_specials
        assert [t.id for t in second.prompt].count(IM_END) == 3
        shown = render_turn(second, View.RAW, -1, True, 0).plain
        assert INJECTION_NOTE in shown
        assert INJECTION_NOTE not in render_turn(first, View.RAW, -1, True, 0).plain


def test_user_defined_newline_shows_in_the_text_view() -> None:
    turn = Turn(user="q", mode="chat", template="plain")
    newline = dataclasses.replace(text_event(1, "\n"), kind=TokenKind.USER_DEFINED)
    turn.events = [text_event(0, "better."), newline, text_event(2, "User:")]
    assert "better.\nUser:" in render_turn(turn, View.TEXT, -1, False, 0).plain
    # the same token used as the template's marker is structure: hidden from the text
    turn.markers = frozenset({1})
    assert "better.User:" in render_turn(turn, View.TEXT, -1, False, 0).plain


async def test_resume_restores_each_sides_settings_and_the_stats(
    tiny_config: Config, data_dir: Path
) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=24)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        app.set_prompt_settings(
            "aligned", app.prompts["aligned"].replace(template="chatml", system="Be brief.")
        )
        app.set_settings("base", SamplerSettings(temperature=0.7, seed=7, stop=("zz",)))
        await send(pilot, "Hello")
        await turn_done(pilot)
        aligned = app.transcripts["aligned"].last
        assert aligned is not None and aligned.reply_text == ALIGNED_REPLY_TEXT
        await wait_until(pilot, lambda: aligned.other and "waiting" not in _chart(app))
        # changed after the last turn: restored too
        app.set_prompt_settings("base", app.prompts["base"].replace(template="plain"))
        prompts, settings = dict(app.prompts), dict(app.settings)
        chart = _chart(app)
        path = app.store.path if app.store else None
    assert path is not None

    again = PlaygroundApp(tiny_config, max_tokens=24)
    async with again.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        assert again.prompts != prompts
        again.action_resume(path)
        await pilot.pause()
        assert again.prompts == prompts
        assert again.settings == settings
        assert _chart(again) == chart
        for side in ("base", "aligned"):
            assert "tok/s" in again.pane(side).status_text
        assert again.transcripts["aligned"].turns[0].prompt_settings == prompts["aligned"]


def _chart(app: PlaygroundApp) -> str:
    return str(app.query_one(ShiftChart).render())


async def test_templates_panel_sets_system_prompt_stops_and_injection(
    tiny_config: Config, data_dir: Path
) -> None:
    from textual.widgets import Checkbox, Input

    app = PlaygroundApp(tiny_config, max_tokens=8)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await pilot.press("f3")
        await pilot.pause()
        app.screen.query_one("#system-aligned", Input).value = "Be brief."
        app.screen.query_one("#stops-base", Checkbox).value = True
        app.screen.query_one("#inject-aligned", Checkbox).value = True
        await pilot.pause()
        await pilot.press("escape")
        assert app.prompts["aligned"].system == "Be brief."
        assert app.prompts["aligned"].user_specials
        assert app.prompts["base"].template_stops
        await send(pilot, "Hello")
        await turn_done(pilot)
        aligned = app.transcripts["aligned"].last
        assert aligned is not None
        assert aligned.prompt_text.startswith("<|im_start|>system\nBe brief.<|im_end|>")
