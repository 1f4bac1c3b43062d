"""The bad-input matrix on the screen: the whole app on the tiny GGUF pair, driven as a user
would (keys, the input, the panels), asserting what the user is told and that no message
or reply is lost. The cases below the screen are in tests/test_bad_inputs.py.
"""

from __future__ import annotations

import json
import threading
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.widgets import Button, Input, Select, Static

from playground.config import Config, load_config
from playground.ui import app_turns as app_module  # the module that opens models
from playground.ui.app import PlaygroundApp
from playground.ui.launch import exit_code
from playground.ui.screens.models import ModelsScreen
from playground.ui.screens.sampling import SamplingScreen
from playground.ui.screens.templates import TemplatesScreen
from playground.ui.widgets.inspector import TokenInspector
from tests import tiny_gguf as tg
from tests.ui.conftest import SIZE, models_loaded, turn_done, wait_until, write_models_toml


async def send(pilot: Any, text: str) -> None:
    box = pilot.app.query_one("#prompt", Input)
    box.focus()
    box.value = text
    await pilot.press("enter")


def notices(app: PlaygroundApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


def saved(data_dir: Path) -> list[dict[str, Any]]:
    files = sorted((data_dir / "conversations").glob("*.jsonl"))
    assert len(files) == 1
    return [json.loads(line) for line in files[0].read_text().splitlines()]


def sent(records: list[dict[str, Any]]) -> list[str]:
    """The messages a conversation file holds (one `node` record per side and message)."""
    return [r["user"] for r in records if r["type"] == "node" and r["side"] == "base"]


def config_with(tmp_path: Path, tiny_pair: tg.TinyPair, **pair: str) -> Config:
    path = write_models_toml(tmp_path, tiny_pair.base, tiny_pair.aligned)
    text = path.read_text()
    for side, mid in pair.items():
        text = text.replace(f'{side} = "tiny-{side}"', f'{side} = "{mid}"', 1)
    path.write_text(text)
    return load_config(path)


# ---------------------------------------------------------------------------- crashes


async def test_f5_with_a_side_that_has_no_model(
    tmp_path: Path, tiny_pair: tg.TinyPair, data_dir: Path
) -> None:
    config = config_with(tmp_path, tiny_pair, aligned="broken")
    app = PlaygroundApp(config, max_tokens=24)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await wait_until(pilot, lambda: "aligned" in app.load_errors)
        assert "Loading failed" in app.pane("aligned").notice_text
        assert "broken.gguf" in app.pane("aligned").notice_text
        await pilot.press("f5")  # the hint sends users here: it must open
        await pilot.pause()
        assert isinstance(app.screen, ModelsScreen)
        assert app.screen.query_one("#pick-aligned", Select).value is Select.NULL
        status = app.screen.query_one("#status-aligned", Static)
        assert "broken.gguf" in str(status.render())
        # pick the good model for that side, load it, and it answers
        app.screen.query_one("#pick-aligned", Select).value = "tiny-aligned"
        app.screen.query_one("#load-aligned", Button).press()
        await wait_until(pilot, lambda: app.models["aligned"] is not None)
        await pilot.press("escape")
        assert app.pane("aligned").notice_text == ""
        await send(pilot, "Hello")
        await turn_done(pilot)
        last = app.transcripts["aligned"].last
        assert last is not None and last.reply_text == tg.ALIGNED_REPLY_TEXT


async def test_a_crash_exits_non_zero_with_the_conversation_saved(
    tiny_config: Config, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=4)

    def broken() -> None:
        raise RuntimeError("a bug in an action")

    with pytest.raises(RuntimeError, match="a bug in an action"):
        async with app.run_test(size=SIZE) as pilot:
            await models_loaded(pilot)
            await send(pilot, "Keep me")
            await turn_done(pilot)
            app.action_cycle_views = broken  # type: ignore[method-assign]
            await pilot.press("f2")
            await pilot.pause()
    assert app.return_code == 1
    assert exit_code(app, None) == 1
    store = app.store
    assert store is not None
    assert str(store.path) in capsys.readouterr().err
    records = [json.loads(line) for line in store.path.read_text().splitlines()]
    assert sent(records) == ["Keep me"]
    assert sum(r["type"] == "finish" for r in records) == 2


# ---------------------------------------------------------------------------- lost data


async def test_unusable_data_dir_keeps_the_conversation_on_screen(
    tiny_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(blocker / "data"))
    app = PlaygroundApp(tiny_config, max_tokens=4)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await send(pilot, "Hello")
        await turn_done(pilot)
        # nothing crashed: the message and both replies are on screen
        for side in ("base", "aligned"):
            last = app.transcripts[side].last
            assert last is not None and last.user == "Hello" and last.events
        assert "you: Hello" in app.pane("aligned").body.document().plain
        # ... and the user is told it is not saved, where and why
        assert "NOT SAVED" in app.sub_title
        told = notices(app)
        assert str(blocker / "data" / "conversations") in told
        assert "Not a directory" in told and "PLAYGROUND_DATA_DIR" in told
        # screenshots and exports say the same instead of crashing
        await pilot.press("ctrl+s")
        await pilot.press("ctrl+x")
        await pilot.pause()
        assert "Cannot write the screenshot" in notices(app)
        assert "Cannot write the export" in notices(app)


def write_conversation(folder: Path, lines: list[bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "20260101-000000-abcdef.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def good_turn(text: str, turn: int) -> list[bytes]:
    out = [json.dumps({"type": "user", "text": text, "mode": "chat"}).encode()]
    for side in ("base", "aligned"):
        out.append(
            json.dumps(
                {
                    "type": "finish",
                    "side": side,
                    "turn": turn,
                    "reason": "eog",
                    "tokens": 0,
                    "elapsed_s": 0.1,
                    "prompt_tokens": 2,
                    "reused_tokens": 0,
                }
            ).encode()
        )
    return out


async def test_resume_a_damaged_file_takes_every_valid_record(
    tiny_config: Config, data_dir: Path
) -> None:
    write_conversation(
        data_dir / "conversations",
        [
            *good_turn("first", 0),
            b'{"type": "user", "text": "\xff\xfe"}',  # invalid UTF-8
            b'{"type": "user", "text": ["wrong", "type"]}',
            b'[{"type": "clear"}]',  # an array, not an object
            *good_turn("second", 1),
            b'{"type": "tokens", "side": "base", "tu',  # torn by a kill
        ],
    )
    app = PlaygroundApp(tiny_config, max_tokens=4)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert [t.user for t in app.transcripts["base"].turns] == ["first", "second"]
        assert "Skipped 4 damaged record(s)" in notices(app)
        # the next turn lands on a fresh line: a later resume keeps it
        await send(pilot, "third")
        await turn_done(pilot)
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert [t.user for t in app.transcripts["aligned"].turns] == ["first", "second", "third"]


async def test_a_message_sent_while_one_model_loads_waits_for_it(
    tiny_config: Config, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    real_open = app_module.open_model

    def slow_open(spec: Any, *args: Any) -> Any:
        if spec.id == "tiny-aligned":
            gate.wait(30)
        return real_open(spec, *args)

    monkeypatch.setattr(app_module, "open_model", slow_open)
    app = PlaygroundApp(tiny_config, max_tokens=24)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.models["base"] is not None)
        assert app.models["aligned"] is None and app.pane("aligned").loading
        await send(pilot, "Hello")
        await wait_until(pilot, lambda: app.transcripts["base"].turns[0].reason is not None)
        waiting = app.transcripts["aligned"].turns[0]
        assert waiting.reason is None and not waiting.events
        assert "waits for this model" in app.pane("aligned").status_text
        gate.set()
        await turn_done(pilot)
        assert app.transcripts["aligned"].turns[0].reply_text == tg.ALIGNED_REPLY_TEXT
        assert sum(r["type"] == "finish" for r in saved(data_dir)) == 2


async def test_a_message_for_a_model_that_fails_to_load_is_marked_missed(
    tmp_path: Path, tiny_pair: tg.TinyPair, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    real_open = app_module.open_model

    def slow_open(spec: Any, *args: Any) -> Any:
        if spec.id == "broken":
            gate.wait(30)
        return real_open(spec, *args)

    monkeypatch.setattr(app_module, "open_model", slow_open)
    app = PlaygroundApp(config_with(tmp_path, tiny_pair, aligned="broken"), max_tokens=4)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.models["base"] is not None)
        await send(pilot, "Hello")
        gate.set()
        await wait_until(pilot, lambda: app.transcripts["aligned"].turns[0].reason is not None)
        missed = app.transcripts["aligned"].turns[0]
        assert missed.reason == "error" and missed.error is not None
        assert "aligned missed this message" in missed.error and "broken.gguf" in missed.error


async def test_over_long_prompt_and_cancel_keep_the_app_going(
    tiny_config: Config, data_dir: Path
) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=200)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await send(pilot, "hello " * 400)
        await turn_done(pilot)
        for side in ("base", "aligned"):
            last = app.transcripts[side].last
            assert last is not None and last.reason == "error"
            assert last.error is not None and "context holds 256" in last.error
        await send(pilot, "once")
        await pilot.press("escape")
        await turn_done(pilot)
        base = app.transcripts["base"].last
        assert base is not None and base.user == "once" and base.events  # the partial reply
        assert base.reason in ("cancelled", "max_tokens")
        assert sent(saved(data_dir)) == ["hello " * 400, "once"]


# ---------------------------------------------------------------------------- what it says


async def test_config_error_stays_in_the_panes_until_fixed(
    tmp_path: Path, tiny_pair: tg.TinyPair, data_dir: Path
) -> None:
    good = write_models_toml(tmp_path, tiny_pair.base, tiny_pair.aligned)
    fixed = good.read_text()
    good.write_text(fixed.replace('role = "base"', 'role = "bsae"', 1))
    app = PlaygroundApp(config_path=str(good), max_tokens=4)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.5)
        line = good.read_text().splitlines().index('role = "bsae"') + 1
        for side in ("base", "aligned"):
            notice = app.pane(side).notice_text
            assert str(good) in notice and f"line {line}" in notice and "'bsae'" in notice
            assert "Reload models.toml" in notice
        await pilot.pause(1.0)  # long after any toast: still there
        assert "'bsae'" in app.pane("base").notice_text
        good.write_text(fixed)
        await pilot.press("f5")
        await pilot.pause()
        app.screen.query_one("#reload-config", Button).press()
        await wait_until(pilot, lambda: all(app.models.values()))
        assert app.pane("base").notice_text == "" and app.pane("aligned").notice_text == ""


async def test_inspector_forgets_the_old_conversation(tiny_config: Config, data_dir: Path) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=6)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        for key in ("ctrl+n", "ctrl+l"):
            await send(pilot, "Hello")
            await turn_done(pilot)
            app.pane("aligned").focus()
            await pilot.press("home")
            await pilot.pause()
            inspector = app.query_one(TokenInspector)
            assert inspector.has_class("-token")
            await pilot.press(key)
            await pilot.pause()
            assert not inspector.has_class("-token")
            assert "Select a token" in str(inspector.render())


async def test_header_says_the_view_and_urial(tiny_config: Config, data_dir: Path) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=4)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        assert "view: text" in app.sub_title and "URIAL: off" in app.sub_title
        assert "[text view]" in str(app.pane("base").query_one(".pane-title").render())
        await pilot.press("f2")
        assert "view: raw" in app.sub_title
        assert "[raw view]" in str(app.pane("aligned").query_one(".pane-title").render())
        await pilot.press("f8")
        assert "URIAL: on" in app.sub_title
        app.pane("base").focus()
        await pilot.press("v")  # one pane on its own: both are named
        assert "view: prob / raw" in app.sub_title


async def test_typing_after_tab_and_a_panel_reaches_the_input(
    tiny_config: Config, data_dir: Path
) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=4)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await pilot.press("tab")
        assert app.focused is not None and app.focused.id and "pane" in app.focused.id
        await pilot.press("f3")
        await pilot.pause()
        assert isinstance(app.focused, Select)  # the panel's select, not two Tabs away
        await pilot.press("escape")
        await pilot.pause()
        # "s", "f" and "v" are a pane's own keys: the input must have the focus back
        await pilot.press("s", "o", " ", "f", "i", "v", "e", "enter")
        await turn_done(pilot)
        last = app.transcripts["aligned"].last
        assert last is not None and last.user == "so five"
        # typing straight into a focused pane goes to the input too
        app.pane("base").focus()
        await pilot.press("h", "i", "enter")
        await turn_done(pilot)
        last = app.transcripts["aligned"].last
        assert last is not None and last.user == "hi"


async def test_zwj_emoji_typed_arrives_whole(tiny_config: Config, data_dir: Path) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=2, load_models=False)
    async with app.run_test(size=SIZE) as pilot:
        app.query_one("#prompt", Input).focus()
        # one key per code point, as a terminal sends a typed emoji sequence
        for ch in "👩\u200d💻 ok":
            app.post_message(events.Key(unicodedata.name(ch).lower().replace(" ", "_"), ch))
            await pilot.pause()
        assert app.query_one("#prompt", Input).value == "👩\u200d💻 ok"


async def test_no_model_keeps_the_typed_message(tiny_config: Config, data_dir: Path) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=2, load_models=False)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "do not lose me")
        await pilot.pause()
        assert app.query_one("#prompt", Input).value == "do not lose me"
        assert "nothing was sent" in notices(app)


# ---------------------------------------------------------------------------- panels


async def test_sampling_panel_refuses_out_of_range_values_next_to_the_field(
    tmp_path: Path, tiny_pair: tg.TinyPair, data_dir: Path
) -> None:
    path = write_models_toml(tmp_path, tiny_pair.base, tiny_pair.aligned)
    path.write_text(path.read_text() + "\n[presets.calm]\ntemperature = 0.25\ntop_k = 7\n")
    app = PlaygroundApp(load_config(path), max_tokens=4)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await pilot.press("f4")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SamplingScreen)
        entry = screen.query_one("#base--temperature", Input)
        entry.focus()
        entry.value = "-1"
        await pilot.pause()
        error = screen.query_one("#base--temperature--error", Static)
        assert "valid: >= 0" in str(error.render())  # at once, next to the field
        assert entry.has_class("-invalid")
        await pilot.press("enter", "tab")
        assert app.settings["base"].temperature == 0.0  # refused
        entry.value = "nan"
        await pilot.pause()
        assert "valid" in str(error.render())
        entry.focus()
        entry.value = "0.5"
        await pilot.press("enter")
        assert str(error.render()) == "" and app.settings["base"].temperature == 0.5
        # the user's own preset from models.toml is offered and applies
        select = screen.query_one("#preset-aligned", Select)
        assert "calm (yours)" in [label for label, _v in select._options]  # noqa: SLF001
        select.value = "calm (yours)"
        await pilot.pause()
        assert (app.settings["aligned"].temperature, app.settings["aligned"].top_k) == (0.25, 7)


async def test_templates_panel_choices_preview_and_tiktoken_tokens(
    tiny_config: Config, data_dir: Path
) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=4)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await pilot.press("f3")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TemplatesScreen)
        values = [v for _label, v in screen.query_one("#tpl-aligned", Select)._options]  # noqa: SLF001
        assert "none" in values and "urial-plain" in values
        # the example message is labelled as one, with the counts
        label = str(screen.query_one("#label-aligned", Static).render())
        counts = str(screen.query_one("#counts-aligned", Static).render())
        assert "example message" in label and "not sent" in label
        assert "example message" in counts
        # the models.toml name, not the GGUF's general.name
        why = str(screen.query_one("#why-aligned").render())
        assert why.startswith("Tiny aligned: using") and "tiny-aligned" not in why
        # tiktoken's tokens, as Tiktokenizer shows them: each piece, then the ids
        tokens = str(screen.query_one("#tiktoken-aligned", Static).render())
        assert "o200k_base:" in tokens and "cl100k_base:" in tokens
        assert "200264" in tokens  # <|im_start|> in o200k_base, as Tiktokenizer numbers it
        await pilot.press("escape")
        # what the user is typing is what the preview shows
        app.query_one("#prompt", Input).value = "my own words"
        await pilot.press("f3")
        await pilot.pause()
        label = str(app.screen.query_one("#label-aligned", Static).render())
        assert "the message you are typing" in label
        assert "my·own·words" in str(app.screen.query_one("#render-aligned", Static).render())


async def test_models_panel_names_each_model_once(tiny_config: Config, data_dir: Path) -> None:
    from dataclasses import replace

    models = dict(tiny_config.models)
    models["tiny-base"] = replace(models["tiny-base"], name="Tiny 1M (base)")
    app = PlaygroundApp(replace(tiny_config, models=models), max_tokens=4, load_models=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await pilot.pause()
        labels = [str(lbl) for lbl, _v in app.screen.query_one("#pick-base", Select)._options]  # noqa: SLF001
        assert "Tiny 1M (base)" in labels and "Tiny aligned" in labels
        assert "Broken file (base)" in labels  # the role, where the name does not say it
        assert not any("(base) (base)" in lbl for lbl in labels)


async def test_gguf_with_a_broken_template_loads_says_why_and_answers(
    tmp_path: Path, tiny_pair: tg.TinyPair, data_dir: Path
) -> None:
    broken = tg.write_tiny_gguf(
        tmp_path / "broken-template.gguf",
        transitions=tg.ALIGNED_TRANSITIONS,
        default_next=tg.ALIGNED_DEFAULT_NEXT,
        seed=2,
        chat_template="{% for %}",
        name="tiny-broken-template",
    )
    app = PlaygroundApp(
        load_config(write_models_toml(tmp_path, tiny_pair.base, broken)), max_tokens=24
    )
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        assert app.models["aligned"] is not None
        notice = app.pane("aligned").notice_text
        assert "broken-template.gguf" in notice and "line 1" in notice
        assert 'template = "chatml"' in notice
        assert app.templates["aligned"] == "chatml"
        await send(pilot, "Hello")
        await turn_done(pilot)
        last = app.transcripts["aligned"].last
        assert last is not None and last.reply_text == tg.ALIGNED_REPLY_TEXT
