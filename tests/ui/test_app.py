"""Whole-app Pilot tests on the tiny GGUF pair: what a user would see and do.

The expected replies come from the tiny models' design (tests/tiny_gguf.py), not from
running the app: the aligned model answers ALIGNED_REPLY_TEXT then <|im_end|>, the base
model rambles BASE_CYCLE_TEXT forever.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console, Group
from rich.style import Style
from rich.text import Text
from textual.widgets import Input, Select

from playground.config import Config
from playground.engine.settings import SamplerSettings
from playground.ui.app import PlaygroundApp
from playground.ui.widgets.inspector import TokenInspector
from playground.ui.widgets.token_render import SPECIAL, View
from tests.tiny_gguf import ALIGNED_REPLY_TEXT, BASE_CYCLE_TEXT, TinyPair
from tests.ui.conftest import SIZE, models_loaded, turn_done, wait_until


def body_text(app: PlaygroundApp, side: str) -> Text:
    """What the pane draws, unwrapped; `screen_text` checks it against the screen."""
    return app.pane(side).body.document()


async def send(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    box = pilot.app.query_one("#prompt", Input)
    box.focus()
    box.value = text
    await pilot.press("enter")


async def test_reply_streams_into_both_panes(tiny_config: Config, data_dir: Path) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=24)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await send(pilot, "Hello")
        await turn_done(pilot)
        aligned = app.transcripts["aligned"].last
        base = app.transcripts["base"].last
        assert aligned is not None and base is not None
        assert aligned.reply_text == ALIGNED_REPLY_TEXT
        assert aligned.reason == "eog"
        assert base.reply_text.startswith(BASE_CYCLE_TEXT)
        assert base.reason == "max_tokens" and len(base.events) == 24
        # what the panes show, in the text view
        assert ALIGNED_REPLY_TEXT.split()[0] in body_text(app, "aligned").plain
        assert BASE_CYCLE_TEXT.strip() in body_text(app, "base").plain
        assert "tok/s" in app.pane("aligned").status_text
        assert "eog" in app.pane("aligned").status_text
        # the conversation file has every event, each line valid JSON
        files = list((data_dir / "conversations").glob("*.jsonl"))
        assert len(files) == 1
        records = [json.loads(line) for line in files[0].read_text().splitlines()]
        kinds = [r["type"] for r in records]
        assert kinds[:3] == ["meta", "node", "node"] and kinds.count("finish") == 2
        saved = [
            t
            for r in records
            if r["type"] == "tokens" and r["side"] == "aligned"
            for t in r["tokens"]
        ]
        assert len(saved) == len(aligned.events)


async def test_escape_stops_and_keeps_partial_reply(tiny_config: Config, data_dir: Path) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=200)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)

        class SlowSettings(dict[str, SamplerSettings]):
            """Reading the settings costs 20 ms: the base model streams at about 50 tok/s."""

            def __getitem__(self, key: str) -> SamplerSettings:
                import time

                time.sleep(0.02)
                return super().__getitem__(key)

        app.settings = SlowSettings(app.settings)
        await send(pilot, "Hello")
        await wait_until(pilot, lambda: len(app.transcripts["base"].turns[-1].events) >= 3)
        await pilot.press("escape")
        await turn_done(pilot)
        base = app.transcripts["base"].last
        assert base is not None
        assert base.reason == "cancelled"
        assert 3 <= len(base.events) < 200
        assert base.reply_text.startswith(BASE_CYCLE_TEXT[:4])
        assert "[stopped]" in body_text(app, "base").plain
        assert "stopped" in app.pane("base").status_text


async def test_raw_view_marks_special_tokens(tiny_config: Config, data_dir: Path) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=24)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await send(pilot, "Hello")
        await turn_done(pilot)
        assert "<|im_end|>" not in body_text(app, "aligned").plain  # text view: reader's text
        await pilot.press("f2")
        await pilot.pause()
        assert app.pane("aligned").view == View.RAW
        raw = body_text(app, "aligned")
        plain = raw.plain
        # the prompt's template tokens are shown, and the reply's end-of-turn token too
        assert plain.count("<|im_start|>") >= 2
        end = plain.rindex("<|im_end|>")
        styles = [s.style for s in raw.spans if s.start <= end < s.end]
        assert any(
            isinstance(st, Style) and st.bgcolor is not None and st.bgcolor == SPECIAL.bgcolor
            for st in styles
        ), "the reply's <|im_end|> is drawn in the special-token style"
        # 🙂 is not in the tiny vocabulary: byte fallback, shown as hex bytes
        assert "<0xF0><0x9F><0x99><0x82>" in plain
        # spaces are visible
        assert "Hello·world!" in plain


async def test_template_switch_applies_to_next_turn(tiny_config: Config, data_dir: Path) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=8)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await send(pilot, "Hello")
        await turn_done(pilot)
        first = app.transcripts["aligned"].last
        assert first is not None and "<|im_start|>" in first.prompt_text
        await pilot.press("f3")
        await pilot.pause()
        app.screen.query_one("#tpl-aligned", Select).value = "plain"
        await pilot.pause()
        await pilot.press("escape")
        assert app.templates["aligned"] == "plain"
        await send(pilot, "Hello")
        await turn_done(pilot)
        second = app.transcripts["aligned"].last
        assert second is not None and second.template == "plain"
        assert "<|im_start|>" not in second.prompt_text
        assert "Hello" in second.prompt_text
        # the earlier turn keeps the template it was generated with
        assert app.transcripts["aligned"].turns[0].template != "plain"


async def test_inspector_shows_both_models_for_selected_token(
    tiny_config: Config, data_dir: Path
) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=8)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await send(pilot, "Hello")
        await turn_done(pilot)
        aligned = app.transcripts["aligned"].last
        assert aligned is not None
        await wait_until(pilot, lambda: len(aligned.other) == len(aligned.events))
        pane = app.pane("aligned")
        pane.focus()
        await pilot.press("home", "right")
        await pilot.pause()
        assert pane.cursor == 1
        shown = app.query_one(TokenInspector).content
        rendered = str(shown.renderables[0]) if hasattr(shown, "renderables") else str(shown)
        assert "token #1" in rendered
        assert "base: rank" in rendered
        # the same selection with the mouse: find token #3 on screen and click it
        region = pane.body.region
        spot = next(
            (x, y)
            for y in range(region.y, region.bottom)
            for x in range(region.x, region.right)
            if app.screen.get_style_at(x, y).meta.get("tok") == 3
        )
        await pilot.click(offset=spot)
        await pilot.pause()
        assert pane.cursor == 3
        shown = app.query_one(TokenInspector).content
        assert isinstance(shown, Group)
        assert "token #3" in str(shown.renderables[0])


async def test_model_load_failure_keeps_app_running(tiny_config: Config, data_dir: Path) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=8)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        app.load_side("base", tiny_config.models["broken"])
        await wait_until(pilot, lambda: "base" in app.load_errors)
        assert "broken.gguf" in app.load_errors["base"]
        assert "load failed" in app.pane("base").model_name
        assert "error" in app.pane("base").status_text
        # the side keeps its previous model, and both still answer
        await send(pilot, "Hello")
        await turn_done(pilot)
        assert app.transcripts["aligned"].last.reply_text.startswith("Hello world!")  # type: ignore[union-attr]
        assert app.transcripts["base"].last.reply_text.startswith(BASE_CYCLE_TEXT[:8])  # type: ignore[union-attr]


async def test_hostile_template_is_refused_in_place(
    tiny_pair: TinyPair,
    tmp_path: Path,
    data_dir: Path,
) -> None:
    from playground.config import load_config
    from tests.ui.conftest import write_models_toml

    hostile = tmp_path / "evil.jinja"
    hostile.write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}", encoding="utf-8")
    config = load_config(
        write_models_toml(tmp_path, tiny_pair.base, tiny_pair.aligned, template=f'"{hostile}"')
    )
    app = PlaygroundApp(config, max_tokens=8)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await send(pilot, "Hello")
        await turn_done(pilot)
        aligned = app.transcripts["aligned"].last
        assert aligned is not None and aligned.error is not None
        assert aligned.events == []
        assert "template" in aligned.error
        assert aligned.error in body_text(app, "aligned").plain
        assert app.transcripts["base"].last.events  # type: ignore[union-attr]
        lines = next((data_dir / "conversations").glob("*.jsonl")).read_text().splitlines()
        assert all(json.loads(line) for line in lines)
        assert any(json.loads(line)["type"] == "error" for line in lines)


async def test_over_long_prompt_shows_message(tiny_config: Config, data_dir: Path) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=8)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await send(pilot, "Hello " * 300)  # > n_ctx = 256 tokens under any template
        await turn_done(pilot)
        for side in ("base", "aligned"):
            turn = app.transcripts[side].last
            assert turn is not None and turn.error is not None
            assert "context holds 256" in turn.error
            assert "context holds 256" in body_text(app, side).plain
        # the app still works afterwards
        await send(pilot, "Hello")
        await turn_done(pilot)
        assert app.transcripts["aligned"].last.reply_text.startswith("Hello world!")  # type: ignore[union-attr]
        lines = next((data_dir / "conversations").glob("*.jsonl")).read_text().splitlines()
        assert all(json.loads(line) for line in lines)


async def test_resume_rebuilds_saved_conversation(tiny_config: Config, data_dir: Path) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=24)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await send(pilot, "Hello")
        await turn_done(pilot)
        saved = app.transcripts["aligned"].last
        assert saved is not None
        await wait_until(pilot, lambda: len(saved.other) == len(saved.events))
        await app.workers.wait_for_complete()
    again = PlaygroundApp(tiny_config, load_models=False)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        await pilot.pause()
        back = again.transcripts["aligned"].last
        assert back is not None
        assert back.reply_text == ALIGNED_REPLY_TEXT
        assert [e.id for e in back.events] == [e.id for e in saved.events]
        assert "<|im_start|>" in back.prompt_text
        assert ALIGNED_REPLY_TEXT.split()[0] in body_text(again, "aligned").plain

        # the other model's view of each token comes back too: the inspector still has
        # the base model's rank and top-k with no model loaded
        def seen(views):  # type: ignore[no-untyped-def]
            return [(v.rank, v.shift_class, v.top_ids, [p for p, _ in v.top]) for v in views]

        assert seen(back.other) == seen(saved.other)
        pane = again.pane("aligned")
        pane.focus()
        await pilot.press("home", "right")
        await pilot.pause()
        shown = again.query_one(TokenInspector).content
        assert isinstance(shown, Group)
        assert "base: rank" in str(shown.renderables[0])
        # and what the sampler did to it, read back as a trace, not a dump of the record
        assert str(shown.renderables[-1]).startswith("sampler [greedy] p ")


async def test_f8_switches_the_base_model_to_the_urial_prompt(
    tiny_config: Config, data_dir: Path
) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=4)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await send(pilot, "Hello")
        await turn_done(pilot)
        await pilot.press("f8")
        assert app.settings["base"].urial_prompt
        await send(pilot, "Hello")
        await turn_done(pilot)
        first, second = app.transcripts["base"].turns
        assert "# Query:" not in first.prompt_text
        assert second.template == "urial"
        # the preamble and worked examples come before the user's query
        assert second.prompt_text.count("# Query:") >= 4
        last_query = second.prompt_text.rsplit("# Query:", 1)[1]
        assert "Hello" in last_query and "# Answer:" in last_query
        # the aligned side is untouched
        aligned_first, aligned_second = app.transcripts["aligned"].turns
        assert aligned_second.template == aligned_first.template != "urial"
        assert not app.settings["aligned"].urial_prompt


async def test_user_jinja_file_picked_in_the_app(
    tiny_config: Config, data_dir: Path, tmp_path: Path
) -> None:
    mine = tmp_path / "mine.jinja"
    mine.write_text(
        "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}[assistant] {% endif %}"
    )
    hostile = tmp_path / "bad.jinja"
    hostile.write_text("{{ cycler.__init__.__globals__.os.system('true') }}")
    app = PlaygroundApp(tiny_config, max_tokens=4)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await pilot.press("f3")
        await pilot.pause()
        box = app.screen.query_one("#file-aligned", Input)
        box.value = str(hostile)
        box.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert app.templates["aligned"] != str(hostile)  # refused: the old one stays
        box.value = str(tmp_path / "missing.jinja")
        await pilot.press("enter")
        await pilot.pause()
        box.value = str(mine)
        await pilot.press("enter")
        await pilot.pause()
        assert app.templates["aligned"] == str(mine)
        await pilot.press("escape")
        await send(pilot, "Hello")
        await turn_done(pilot)
        turn = app.transcripts["aligned"].last
        assert turn is not None
        assert turn.prompt_text.startswith("[user] Hello\n")
        assert turn.prompt_text.endswith("[assistant] ")


def visible_lines(app: PlaygroundApp, side: str) -> list[str]:
    """The text rows the pane's body shows now (after scrolling)."""
    view = app.pane(side).body
    return [view.render_line(y).text.rstrip() for y in range(view.size.height)]


def selected_on_screen(app: PlaygroundApp, side: str) -> str:
    """The text drawn in the cursor's style (reverse video) in the pane, as shown."""
    view = app.pane(side).body
    return "".join(
        seg.text
        for y in range(view.size.height)
        for seg in view.render_line(y)
        if seg.style is not None and seg.style.reverse
    )


async def test_long_reply_keeps_its_end_and_the_cursor_in_view(
    tiny_config: Config, data_dir: Path
) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=230)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await send(pilot, "Hello")
        await turn_done(pilot)
        view = app.pane("base").body
        assert len(view.lines) > view.size.height  # taller than the pane
        shown = visible_lines(app, "base")
        # the end of the reply is on screen, its first line (the header) scrolled away
        assert view.lines[-1].text.rstrip() in shown
        assert not any("you: Hello" in row for row in shown)
        # a token picked in the other pane opens the inspector, which makes this pane
        # shorter: it still shows the end of its reply
        height = view.size.height
        app.pane("aligned").focus()
        await pilot.press("home")
        await pilot.pause()
        assert view.size.height < height
        assert view.lines[-1].text.rstrip() in visible_lines(app, "base")
        # a token picked at the top brings the top into view, and End goes back down
        pane = app.pane("base")
        pane.focus()
        await pilot.press("home")
        await pilot.pause()
        assert "you: Hello" in visible_lines(app, "base")[0]
        base = app.transcripts["base"].last
        assert base is not None
        assert selected_on_screen(app, "base") == base.events[0].text
        await pilot.press("right", "right")
        await pilot.pause()
        assert selected_on_screen(app, "base") == base.events[2].text
        await pilot.press("end")
        await pilot.pause()
        assert view.lines[-1].text.rstrip() in visible_lines(app, "base")
        # the wrapped lines on screen hold the whole reply, in order
        assert (
            "".join(s.text for s in view.lines)
            .replace(" ", "")
            .endswith(base.reply_text.replace(" ", ""))
        )


async def test_document_mode_extends_and_continues_the_document(
    tiny_config: Config, data_dir: Path
) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=6)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await pilot.press("f6")
        assert app.mode == "document"
        await send(pilot, "Once upon a time")
        await turn_done(pilot)
        first = app.transcripts["base"].turns[0]
        assert first.prompt_text == "Once upon a time"  # raw text, no template
        await send(pilot, " Then")
        await turn_done(pilot)
        second = app.transcripts["base"].turns[1]
        assert second.prompt_text == first.prompt_text + first.reply_text + " Then"
        # an empty Enter continues each side's own document
        await send(pilot, "")
        await turn_done(pilot)
        for side in ("base", "aligned"):
            turns = app.transcripts[side].turns
            assert len(turns) == 3
            assert turns[2].prompt_text == turns[1].prompt_text + turns[1].reply_text
        assert "doc: (continue)" in body_text(app, "base").plain
        # Ctrl+L starts a new document
        await pilot.press("ctrl+l")
        await send(pilot, "Fresh")
        await turn_done(pilot)
        assert app.transcripts["base"].last.prompt_text == "Fresh"  # type: ignore[union-attr]


async def test_inspector_is_compact_in_a_short_terminal(
    tiny_config: Config, data_dir: Path
) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=12)
    async with app.run_test(size=(80, 24)) as pilot:
        await models_loaded(pilot)
        await send(pilot, "Hello")
        await turn_done(pilot)
        app.pane("aligned").focus()
        await pilot.press("home")
        await pilot.pause()
        inspector = app.query_one(TokenInspector)
        shown = inspector.content
        assert isinstance(shown, Group)
        console = Console(width=78, record=True, file=io.StringIO())
        console.print(shown)
        text = console.export_text()
        assert "top-3 aligned" in text and "3. " in text and "4. " not in text
        # the panes keep room to read: 6 rows of reply each (4 with the full top-5)
        assert app.pane("base").body.size.height >= 6


async def test_the_shift_bar_says_it_ranks_once_both_replies_are_in(
    tiny_config: Config, data_dir: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Between the last token and the ranked bar, the bar says the ranking runs (it said
    'waiting for both replies' with both replies on screen)."""
    import threading

    import playground.session.core as core
    from playground.ui.widgets.shift_chart import ShiftChart

    release = threading.Event()
    real = core.analyse_turn

    def held(*args, **kwargs):  # type: ignore[no-untyped-def]
        release.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(core, "analyse_turn", held)
    app = PlaygroundApp(tiny_config, max_tokens=12)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await send(pilot, "Hello")

        def chart() -> str:
            return str(app.query_one(ShiftChart).content)

        def both_finished() -> bool:
            lasts = [app.transcripts[s].last for s in ("base", "aligned")]
            return all(t is not None and t.reason is not None for t in lasts)

        await wait_until(pilot, both_finished)
        await pilot.pause()
        assert "ranking the aligned reply" in chart()
        release.set()
        await app.workers.wait_for_complete()
        await wait_until(pilot, lambda: "unshifted" in chart())
