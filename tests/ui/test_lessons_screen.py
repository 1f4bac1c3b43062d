"""The Lessons screen on the tiny pair: F9 and the palette open it, a lesson runs live with
progress, its figure appears, and the Chinese explanation wraps inside the screen."""

from __future__ import annotations

from pathlib import Path

from textual.geometry import Region
from textual.widgets import Input

from playground.config import Config
from playground.lessons.text import cell_width
from playground.ui.app import PlaygroundApp
from playground.ui.screens.lessons import FigureView, LessonProgress, LessonsScreen, WrappedText
from tests.tiny_gguf import ALIGNED_REPLY_TEXT
from tests.ui.conftest import SIZE, models_loaded, turn_done, wait_until


async def test_f9_runs_a_lesson_with_progress_and_shows_its_figure(
    tiny_config: Config, data_dir: Path
) -> None:
    progress: list[LessonProgress] = []

    def hook(message: object) -> None:
        if isinstance(message, LessonProgress):
            progress.append(message)

    app = PlaygroundApp(tiny_config, max_tokens=16)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await models_loaded(pilot)
        await pilot.press("f9")
        screen = app.screen
        assert isinstance(screen, LessonsScreen)
        await pilot.press("down")  # lesson 2: the document simulator
        assert screen.selected == "document"
        await pilot.press("enter")
        await wait_until(pilot, lambda: "document" in screen.results, timeout=60)
        await pilot.pause()
        result = screen.results["document"]
        # The tiny aligned model answers and stops; the base model never does.
        assert result.data["stopped"]["base"] == 0
        assert result.data["stopped"]["aligned"] == result.data["n"]
        assert progress and progress[-1].done == progress[-1].total
        figure = screen.query_one(FigureView).render().plain
        assert "Stops on its own" in figure and "█" in figure
        assert ALIGNED_REPLY_TEXT[:5] in figure  # the reply column, cut to the screen
        await pilot.press("x")  # the figures as an HTML page
        assert screen.last_export is not None
        page = screen.last_export.read_text(encoding="utf-8")
        assert 'id="lesson-document"' in page and "Stops on its own" in page
        await pilot.press("escape")
        assert not isinstance(app.screen, LessonsScreen)
        await pilot.press("f9")  # the same screen again, the figure still there
        assert app.screen is screen and "document" in screen.results


async def test_chinese_explanation_wraps_inside_the_screen(
    tiny_config: Config, data_dir: Path
) -> None:
    app = PlaygroundApp(tiny_config, load_models=False)
    async with app.run_test(size=(70, 30)) as pilot:
        app.push_screen(LessonsScreen(lang="en"))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, LessonsScreen)
        await pilot.press("l")  # switch to Chinese without running anything
        await pilot.pause()
        box = screen.query_one("#lesson-explanation", WrappedText)
        assert box.text.startswith("看词元条")
        width = box.content_size.width
        lines = box.render().plain.split("\n")
        assert len(lines) > 3 and box.size.height == len(lines)
        assert all(cell_width(line) <= width for line in lines)
        assert "".join(lines).replace(" ", "") == box.text.replace(" ", "")
        # What the terminal draws: each line exactly the widget's width in cells, the
        # Chinese text intact (a wide character is never split at the edge).
        strips = box.render_lines(Region(0, 0, box.size.width, box.size.height))
        assert all(strip.cell_length == box.size.width for strip in strips)
        assert [strip.text.rstrip() for strip in strips] == lines
        title = screen.query_one("#lesson-title", WrappedText).text
        assert title == "1. 一段对话就是一个词元序列"


async def test_lessons_are_in_the_command_palette(tiny_config: Config, data_dir: Path) -> None:
    app = PlaygroundApp(tiny_config, load_models=False)
    async with app.run_test(size=SIZE) as pilot:
        commands = [c.title for c in app.get_system_commands(app.screen)]
        assert "Lessons" in commands
        await pilot.press("f9")
        assert isinstance(app.screen, LessonsScreen)
        await pilot.press("enter")  # no models loaded: a message, not a crash
        await pilot.pause()
        status = app.screen.query_one("#lesson-status", WrappedText).text
        assert "Both models must be loaded first" in status


async def test_lessons_run_in_the_session_go_into_the_html_report(
    tiny_config: Config, data_dir: Path
) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=16)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await pilot.press("f9")
        screen = app.screen
        assert isinstance(screen, LessonsScreen)
        await pilot.press("enter")  # lesson 1
        await wait_until(pilot, lambda: "sequence" in screen.results, timeout=60)
        await pilot.press("escape")
        box = app.query_one("#prompt", Input)
        box.focus()
        box.value = "Hello"
        await pilot.press("enter")
        await turn_done(pilot)
        last = [app.transcripts[s].last for s in ("base", "aligned")]
        await wait_until(pilot, lambda: all(t is not None and t.analysis for t in last))
        await pilot.press("ctrl+x")
        await pilot.pause()
        pages = list((data_dir / "exports").glob("*.html"))
        assert len(pages) == 1
        page = pages[0].read_text(encoding="utf-8")
        assert 'id="lesson-sequence"' in page and "One conversation, three token sequences" in page
