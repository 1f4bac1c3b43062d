"""The Lessons screen: pick one of the six experiments, run it live on the loaded pair.

The lesson runs in a thread worker and reports its steps through `post_message`; the
figure is drawn from the lesson's typed result by the same text layout the CLI prints
(`playground.lessons.text`), which measures terminal cells, so Chinese text wraps and
columns align. `l` switches the language without running the lesson again.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, OptionList, ProgressBar
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from playground.lessons import LESSONS, LessonCancelled, LessonPair, get_lesson, run_lesson
from playground.lessons.figures import Bars, Figure, Lang, LessonResult, StackedBars, TokenStrip
from playground.lessons.lang import choose_lang
from playground.lessons.text import PART_MARKS, cell_width, figure_lines, wrap

if TYPE_CHECKING:
    from playground.ui.app import PlaygroundApp

TAG_STYLES = {
    "special": "bold magenta",
    "handed": "bold blue",
    "unshifted": "green",
    "marginal": "yellow",
    "shifted": "bold red",
}

UI_TEXT: dict[str, dict[Lang, str]] = {
    "pick": {
        "en": "Pick a lesson and press Enter to run it on the loaded pair.",
        "zh": "选择一节课，按回车在已加载的模型对上运行。",
    },
    "running": {"en": "Running", "zh": "运行中"},
    "no_models": {
        "en": "Both models must be loaded first (F5 opens the models panel).",
        "zh": "请先加载两个模型（F5 打开模型面板）。",
    },
    "cancelled": {"en": "Stopped.", "zh": "已停止。"},
    "failed": {"en": "The lesson failed", "zh": "课程运行失败"},
    "done": {"en": "Done in", "zh": "用时"},
    "nothing": {
        "en": "Run a lesson first: there is nothing to export yet.",
        "zh": "请先运行一节课：还没有可导出的内容。",
    },
    "exported": {"en": "Lesson figures written to", "zh": "课程图表已写入"},
}


class WrappedText(Widget):
    """Text wrapped by terminal cells (CJK characters are two cells wide)."""

    DEFAULT_CSS = """
    WrappedText { height: auto; }
    """

    def __init__(self, text: str = "", *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self._text = text

    @property
    def text(self) -> str:
        return self._text

    def update(self, text: str) -> None:
        self._text = text
        self.refresh(layout=True)

    def lines(self, width: int) -> list[str]:
        return wrap(self._text, max(4, width)) if self._text else []

    def get_content_height(self, container: Any, viewport: Any, width: int) -> int:
        return max(1, len(self.lines(width)))

    def render(self) -> Text:
        return Text("\n".join(self.lines(self.content_size.width)))


@dataclass
class LessonProgress(Message):
    done: int
    total: int
    what: str


@dataclass
class LessonDone(Message):
    result: LessonResult


def _strip_text(fig: TokenStrip, lang: Lang, width: int) -> Text:
    out = Text()
    out.append(fig.title.get(lang) + "\n", style="bold")
    for tag, meaning in fig.tags:
        out.append(f" {meaning.get(lang)} ", style=TAG_STYLES.get(tag, "reverse"))
        out.append("  ")
    if fig.tags:
        out.append("\n")
    used = 0
    for k, tok in enumerate(fig.tokens):
        cell = tok.text or "∅"
        w = cell_width(cell) + 1
        if used and used + w > width:
            out.append("\n")
            used = 0
        style = TAG_STYLES.get(tok.tag, "on grey23" if k % 2 else "on grey30")
        out.append(cell, style=style)
        out.append(" ")
        used += w
    return out


def figure_text(fig: Figure, lang: Lang, width: int) -> Text:
    """One figure as styled text: the title bold, token strips coloured by tag."""
    if isinstance(fig, TokenStrip):
        return _strip_text(fig, lang, width)
    lines = figure_lines(fig, lang, width)
    out = Text()
    out.append(lines[0] + "\n", style="bold")
    out.append("\n".join(lines[1:]))
    if isinstance(fig, StackedBars):  # the shift classes' colours, as in the panes
        for mark, style in zip(PART_MARKS, ("green", "yellow", "red", "grey50"), strict=True):
            out.highlight_regex(f"{mark}+", style)
    elif isinstance(fig, Bars):
        out.highlight_regex("[█▏▎▍▌▋▊▉]+", "cyan")
    return out


class FigureView(Widget):
    """A lesson's figures, laid out for the widget's width."""

    DEFAULT_CSS = """
    FigureView { height: auto; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.result: LessonResult | None = None
        self.lang: Lang = "en"

    def show(self, result: LessonResult | None, lang: Lang) -> None:
        self.result = result
        self.lang = lang
        self.refresh(layout=True)

    def _text(self, width: int) -> Text:
        if self.result is None:
            return Text("")
        out = Text()
        for fig in self.result.figures:
            out.append_text(figure_text(fig, self.lang, max(20, width)))
            out.append("\n\n")
        return out

    def get_content_height(self, container: Any, viewport: Any, width: int) -> int:
        return max(1, len(self._text(width).wrap(self.app.console, max(1, width))))

    def render(self) -> Text:
        return self._text(self.content_size.width)


class LessonsScreen(Screen[None]):
    """Six lessons, one list; the selected lesson's figure on the right."""

    DEFAULT_CSS = """
    LessonsScreen > Horizontal { height: 1fr; }
    LessonsScreen #lesson-list { width: 34; height: 1fr; }
    LessonsScreen #lesson-body { width: 1fr; height: 1fr; padding: 0 1; }
    LessonsScreen #lesson-title { text-style: bold; color: $accent; }
    LessonsScreen #lesson-claim { text-style: italic; margin-bottom: 1; }
    LessonsScreen #lesson-explanation { margin-bottom: 1; }
    LessonsScreen #lesson-status { color: $text-muted; }
    LessonsScreen #lesson-finding { text-style: bold; margin-top: 1; }
    LessonsScreen #lesson-notes { color: $text-muted; }
    LessonsScreen ProgressBar { margin-bottom: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop_or_close", "Stop / Close"),
        Binding("f9", "close", "Close", show=False),
        Binding("enter", "run", "Run", show=False),
        Binding("r", "run", "Run"),
        Binding("l", "toggle_lang", "中文/English"),
        Binding("x", "export", "Export HTML"),
    ]

    def __init__(self, lang: Lang | None = None) -> None:
        super().__init__()
        self.lang: Lang = lang or choose_lang()
        self.results: dict[str, LessonResult] = {}
        self._cancel = threading.Event()
        self._lesson_running: str | None = None
        self.last_export: Path | None = None

    @property
    def playground(self) -> PlaygroundApp:
        return cast("PlaygroundApp", self.app)

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield OptionList(*self._options(), id="lesson-list")
            with VerticalScroll(id="lesson-body"):
                yield WrappedText("", id="lesson-title")
                yield WrappedText("", id="lesson-claim")
                yield WrappedText("", id="lesson-explanation")
                yield ProgressBar(total=1, show_eta=False, id="lesson-progress")
                yield WrappedText("", id="lesson-status")
                yield FigureView(id="lesson-figure")
                yield WrappedText("", id="lesson-finding")
                yield WrappedText("", id="lesson-notes")
        yield Footer()

    def _options(self) -> list[Option]:
        return [Option(f"{ls.number}. {ls.title.get(self.lang)}", id=ls.name) for ls in LESSONS]

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = 0
        options.focus()
        self._show(LESSONS[0].name)

    @property
    def selected(self) -> str:
        options = self.query_one(OptionList)
        index = options.highlighted or 0
        return LESSONS[index].name

    def _say(self, key: str) -> str:
        return UI_TEXT[key][self.lang]

    def _show(self, name: str) -> None:
        lesson = get_lesson(name)
        lang = self.lang
        self.query_one("#lesson-title", WrappedText).update(
            f"{lesson.number}. {lesson.title.get(lang)}"
        )
        self.query_one("#lesson-claim", WrappedText).update(lesson.claim.get(lang))
        self.query_one("#lesson-explanation", WrappedText).update(lesson.explanation.get(lang))
        result = self.results.get(name)
        self.query_one(FigureView).show(result, lang)
        finding = self.query_one("#lesson-finding", WrappedText)
        notes = self.query_one("#lesson-notes", WrappedText)
        status = self.query_one("#lesson-status", WrappedText)
        if result is not None:
            finding.update("→ " + result.finding.get(lang))
            notes.update("\n".join("* " + n.get(lang) for n in result.notes))
            status.update(
                f"{result.models[0]} × {result.models[1]} · "
                f"{self._say('done')} {result.elapsed_s:.1f} s"
            )
        elif self._lesson_running != name:
            finding.update("")
            notes.update("")
            status.update(self._say("pick"))

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is not None:
            self._show(event.option.id)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.action_run()

    # ------------------------------------------------------------------ running

    def action_run(self) -> None:
        """Run the highlighted lesson on the loaded pair (one lesson at a time)."""
        if self._lesson_running is not None:
            return
        app = self.playground
        base, aligned = app.models.get("base"), app.models.get("aligned")
        if base is None or aligned is None:
            self.query_one("#lesson-status", WrappedText).update(self._say("no_models"))
            self.notify(self._say("no_models"), severity="warning")
            return
        app.action_stop()  # the lesson needs the models to itself
        # Each side as the user has it now: its template and system prompt (F3).
        prompts = app.prompts
        pair = LessonPair(
            base,
            aligned,
            base_template=prompts["base"].template,
            aligned_template=prompts["aligned"].template,
            base_system=prompts["base"].system,
            aligned_system=prompts["aligned"].system,
            base_name=app.pane("base").model_name,
            aligned_name=app.pane("aligned").model_name,
        )
        name = self.selected
        self._lesson_running = name
        self._cancel.clear()
        self.results.pop(name, None)
        self._show(name)
        bar = self.query_one(ProgressBar)
        bar.update(total=1, progress=0)
        self.query_one("#lesson-status", WrappedText).update(f"{self._say('running')}…")
        self._run(name, pair)

    @work(thread=True, exclusive=True, group="lesson", exit_on_error=False)
    def _run(self, name: str, pair: LessonPair) -> LessonResult:
        def progress(done: int, total: int, what: str) -> None:
            self.post_message(LessonProgress(done, total, what))

        result = run_lesson(get_lesson(name), pair, progress=progress, cancel=self._cancel.is_set)
        self.post_message(LessonDone(result))
        return result

    @on(LessonProgress)
    def _progress(self, msg: LessonProgress) -> None:
        self.query_one(ProgressBar).update(total=msg.total, progress=msg.done)
        if msg.what:
            self.query_one("#lesson-status", WrappedText).update(
                f"{self._say('running')} [{msg.done}/{msg.total}] {msg.what}"
            )

    @on(LessonDone)
    def _done(self, msg: LessonDone) -> None:
        self.results[msg.result.name] = msg.result
        self._lesson_running = None
        bar = self.query_one(ProgressBar)
        bar.update(total=bar.total or 1, progress=bar.total or 1)
        if self.selected == msg.result.name:
            self._show(msg.result.name)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "lesson":
            return
        if event.state not in (WorkerState.ERROR, WorkerState.CANCELLED):
            return
        name = self._lesson_running
        self._lesson_running = None
        status = self.query_one("#lesson-status", WrappedText)
        error = event.worker.error
        if isinstance(error, LessonCancelled) or event.state is WorkerState.CANCELLED:
            status.update(self._say("cancelled"))
        else:
            status.update(f"{self._say('failed')}: {error}")
            self.notify(f"{self._say('failed')}: {error}", severity="error")
        if name is not None and self.selected == name:
            self.query_one(FigureView).show(None, self.lang)

    # ------------------------------------------------------------------ keys

    def action_stop_or_close(self) -> None:
        if self._lesson_running is not None:
            self._cancel.set()
            return
        self.action_close()

    def action_close(self) -> None:
        """Back to the chat; a running lesson goes on (Esc stops it first)."""
        self.app.pop_screen()

    def figures_json(self) -> list[dict[str, Any]]:
        """Every lesson run so far, in lesson order and the current language, as JSON."""
        return [
            self.results[ls.name].to_json(self.lang) for ls in LESSONS if ls.name in self.results
        ]

    def action_export(self) -> None:
        """Every lesson run so far, in the current language, as one HTML page."""
        from playground.analysis.report_html import render_lessons_html
        from playground.ui.conversation_store import data_dir

        done = self.figures_json()
        if not done:
            self.notify(self._say("nothing"), severity="warning")
            return
        folder = data_dir() / "exports"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"lessons-{time.strftime('%Y%m%d-%H%M%S')}-{self.lang}.html"
        page = render_lessons_html(done, self.lang)
        path.write_text(page, encoding="utf-8")
        self.last_export = path
        self.notify(f"{self._say('exported')} {path}")

    def action_toggle_lang(self) -> None:
        self.lang = "zh" if self.lang == "en" else "en"
        options = self.query_one(OptionList)
        highlighted = options.highlighted
        options.clear_options()
        options.add_options(self._options())
        options.highlighted = highlighted
        self._show(self.selected)
