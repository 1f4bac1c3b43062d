"""The app's state and the small pieces every part of it uses.

The session core (`playground.session`) holds the conversation and each side's model,
template and settings; the shell holds what only the screen needs (the worker of each job,
the waiting turns, the token in the inspector) and runs the session's jobs in thread workers.
The app is built on it in layers: forks (app_forks), then turns and worker results
(app_turns), then the conversation actions (app_actions), then the app itself (app.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.css.query import NoMatches
from textual.worker import Worker

from playground.config import Config, ModelSpec
from playground.engine.backend import Backend
from playground.engine.settings import SamplerSettings
from playground.session.core import Session
from playground.session.jobs import CallJob, Notice, StreamJob, Work, WorkKind
from playground.session.turns import SIDES, SideTranscript, Turn
from playground.templates.prompt import (
    PromptSettings,
)
from playground.ui import themes
from playground.ui.conversation_store import (
    ConversationFile,
)
from playground.ui.frames import FrameClock
from playground.ui.widgets.model_pane import MAX_FPS, ModelPane
from playground.ui.workers import call, generate


class AppShell(App[int]):
    """The app's state, its session and the helpers the layers above share."""

    def __init__(
        self,
        config: Config | None = None,
        config_path: str | None = None,
        *,
        max_tokens: int | None = None,
        load_models: bool = True,
    ) -> None:
        super().__init__()
        self.config = config
        self.config_path = config_path
        self.load_models_on_start = load_models
        self.session = Session(open_store=self._open_store, notify=self._notice)
        """The conversation and each side's model and settings (see playground.session)."""
        self.session.max_tokens_override = max_tokens
        self.unsaved: str | None = None
        """Why the conversation cannot be saved right now, or None while it is."""
        self.waiting: dict[str, list[Turn]] = {}
        """Turns sent while their side's model was still loading: they run once it is ready."""
        self._work: dict[Worker[Any], Work] = {}
        """What each running worker does: which side, which turn."""
        self.selected: tuple[str, int, int] | None = None
        """The token in the inspector: (side, turn id, token index)."""
        self.first_paint_at: float | None = None
        self.frames = FrameClock(self, MAX_FPS)
        self.theme_problem = themes.apply_theme(self)

    def pane(self, side: str) -> ModelPane:
        return self.query_one(f"#pane-{side}", ModelPane)

    @property
    def transcripts(self) -> dict[str, SideTranscript]:
        """The branch on screen per side (the panes show these)."""
        return self.session.transcripts

    @property
    def store(self) -> ConversationFile | None:
        store = self.session.store
        return store if isinstance(store, ConversationFile) else None

    @property
    def mode(self) -> str:
        return self.session.mode

    @mode.setter
    def mode(self, value: str) -> None:
        self.session.mode = value

    @property
    def models(self) -> dict[str, Backend | None]:
        return self.session.models

    @property
    def specs(self) -> dict[str, ModelSpec | None]:
        return self.session.specs

    @property
    def templates(self) -> dict[str, str]:
        return self.session.templates

    @property
    def prompts(self) -> dict[str, PromptSettings]:
        """Each side's template, system prompt, stop choice and injection switch."""
        return self.session.prompts

    @property
    def settings(self) -> dict[str, SamplerSettings]:
        return self.session.settings

    @settings.setter
    def settings(self, value: dict[str, SamplerSettings]) -> None:
        self.session.settings = value

    @property
    def load_errors(self) -> dict[str, str]:
        return self.session.load_errors

    def _notice(self, notice: Notice) -> None:
        if notice.severity == "error":
            self._show_error(notice.side, notice.message)
            return
        where = f"{notice.side}: " if notice.side else ""
        self.notify(f"{where}{notice.message}", severity=notice.severity)  # type: ignore[arg-type]

    def _launch(self, job: StreamJob | CallJob | None) -> None:
        """Run a session job in a thread worker, remembering its Work for the one handler
        of results and failures. A stream cancels the side's stream before it; calls run
        side by side (each model's scorings queue on its own lock)."""
        if job is None:
            return
        stream = isinstance(job, StreamJob)
        work: Callable[[], object] = (
            functools.partial(generate, self, job)
            if isinstance(job, StreamJob)
            else functools.partial(call, self, job)
        )
        worker = self.run_worker(
            work,
            name=f"{job.work.kind.value}:{job.work.side}",
            group=job.work.group,
            thread=True,
            exclusive=stream or job.work.kind is WorkKind.LOAD,
            exit_on_error=False,
        )
        self._work[worker] = job.work
        if stream:
            pane = self.pane(job.work.side)
            pane.cursor = -1
            pane.mark_dirty()

    def _update_subtitle(self) -> None:
        """The header says the mode, each pane's view, whether URIAL is on, and whether the
        conversation is being saved."""
        try:
            shown = [self.pane(s).view.value for s in SIDES]
        except NoMatches:  # before the panes are mounted
            shown = ["text"]
        view = shown[0] if len(set(shown)) == 1 else " / ".join(shown)
        urial = "on" if self.settings["base"].urial_prompt else "off"
        self.sub_title = f"{self.mode} mode · view: {view} · URIAL: {urial}" + (
            " · NOT SAVED" if self.unsaved else ""
        )

    def _open_store(self) -> ConversationFile:
        """The conversation file, made when the conversation first records something."""
        store = ConversationFile.create()
        store.on_problem = self._store_problem
        store.append(
            "meta",
            config=str(self.config.source) if self.config else None,
            models={s: (sp.id if sp else None) for s, sp in self.specs.items()},
            names={s: (sp.name if sp else None) for s, sp in self.specs.items()},
        )
        return store

    def _store_problem(self, problem: str | None) -> None:
        """Saving failed (or works again): say where and why; the conversation goes on."""
        self.unsaved = problem
        self._update_subtitle()
        if problem is not None:
            self.notify(problem, title="not saved", severity="warning", timeout=15)
        else:
            self.notify("The conversation is being saved again.")

    def _turn(self, node: int | None) -> Turn | None:
        return self.session.turn(node) if node is not None else None

    def _show_error(self, side: str | None, message: str) -> None:
        self.notify(message, title=f"{side or 'playground'}: error", severity="error", timeout=8)
        if side is not None:
            pane = self.pane(side)
            pane.set_status(f"error: {message[:120]}")
            pane.mark_dirty()

    def set_template(self, side: str, name: str) -> None:
        """Use this template from the next turn on."""
        self.session.set_template(side, name)
        self.pane(side).set_status(f"template {name} (applies to the next turn)")
        self.pane(side).set_notice(None)  # a broken GGUF template no longer matters

    def set_prompt_settings(self, side: str, prompt: PromptSettings) -> None:
        """Template, system prompt, stops and injection for one side, from the next turn."""
        self.session.set_prompt_settings(side, prompt)

    def set_settings(self, side: str, settings: SamplerSettings) -> None:
        """Swap the settings object: a running stream picks it up at its next token."""
        self.session.set_settings(side, settings)
        self._update_subtitle()

    def update_setting(self, side: str, **changes: Any) -> None:
        self.session.update_setting(side, **changes)
        self._update_subtitle()
