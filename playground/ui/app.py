"""The playground app: two models side by side above one input.

The session core (`playground.session`) holds the conversation and each side's model,
template and settings, and says what runs; the app composes the widgets, turns keys and
messages into calls on the session, runs its jobs in thread workers and paints the results.
Every user-visible action is a method here so the bindings, the command palette and the tests
all go through the same path.
"""

from __future__ import annotations

import functools
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Header, Input
from textual.worker import Worker, WorkerState

from playground.config import Config, ConfigError, ModelSpec, load_config, open_model
from playground.engine.backend import Backend
from playground.engine.settings import SamplerSettings
from playground.engine.types import Finished
from playground.session.core import Session
from playground.session.jobs import CallJob, Notice, StreamJob, Work, WorkKind
from playground.session.turns import OTHER, SIDES, SideTranscript, Turn
from playground.templates.gguf_check import gguf_template_problem
from playground.templates.prompt import (
    PromptSettings,
    default_settings,
)
from playground.ui import exports, gc_policy, themes
from playground.ui.conversation_store import (
    DATA_DIR_ENV,
    ConversationFile,
    data_dir,
    describe_os_error,
    latest_conversation,
    read_log,
)
from playground.ui.frames import FrameClock
from playground.ui.keys import APP_KEYS, bindings, palette_commands
from playground.ui.screens.fork import ForkChoice, ForkScreen, fork_choices
from playground.ui.widgets.inspector import TokenInspector
from playground.ui.widgets.model_pane import MAX_FPS, ModelPane
from playground.ui.widgets.prompt_input import PromptInput
from playground.ui.widgets.shift_chart import ShiftChart
from playground.ui.workers import CallDone, GenerationDone, TokensArrived, call, generate

SWITCH_INTERVAL_S = 0.0005

CHAT_PLACEHOLDER = "Message both models (Enter sends, Esc stops)"
DOCUMENT_PLACEHOLDER = "Add to the document (Enter; empty Enter continues it, Ctrl+L starts anew)"

_ENDED = (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED)


class PlaygroundApp(App[int]):
    """Base and aligned model, side by side."""

    CSS_PATH = "app.tcss"
    TITLE = "playground"
    SUB_TITLE = "base vs aligned"

    BINDINGS: ClassVar[list[BindingType]] = list(bindings(APP_KEYS))

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

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="panes"):
            for side in SIDES:
                yield ModelPane(side, self.transcripts[side], self.frames, id=f"pane-{side}")
        yield ShiftChart(id="shift-chart")
        yield TokenInspector(id="inspector")
        yield PromptInput(placeholder=CHAT_PLACEHOLDER, id="prompt")
        yield Footer(compact=True)

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

    def on_mount(self) -> None:
        # The model threads give the GIL up inside llama_decode and need it back for a
        # moment per token; with Python's default 5 ms switch interval they can wait that
        # long behind a repaint, every token.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        gc_policy.tune()
        self.query_one(TokenInspector).clear_token()
        self.query_one("#prompt", Input).focus()
        self._update_subtitle()
        if self.theme_problem:
            self.notify(self.theme_problem, severity="warning")
        self.call_after_refresh(self._first_paint)
        for side in SIDES:
            self.watch(self.pane(side), "view", self._update_subtitle, init=False)
        if self.config is None and not self.reload_config():
            return
        if self.load_models_on_start:
            self.load_pair()

    def reload_config(self) -> bool:
        """Read models.toml again; a problem stays in both panes until it is fixed."""
        try:
            self.config = load_config(self.config_path)
        except ConfigError as exc:
            self.config = None
            for side in SIDES:
                self.load_errors[side] = str(exc)
                self.pane(side).set_notice(
                    f"No model: models.toml has a problem.\n{exc}\n"
                    "Fix the file, then F5 → Reload models.toml (or restart playground)."
                )
            self._show_error(None, str(exc))
            return False
        for side in SIDES:
            if self.models.get(side) is None:
                self.load_errors.pop(side, None)
                self.pane(side).set_notice(None)
        return True

    def load_pair(self) -> None:
        """Load the configured pair's models, one per side."""
        if self.config is None:
            return
        pair = self.config.pair
        for side, mid in (("base", pair.base), ("aligned", pair.aligned)):
            self.load_side(side, self.config.models[mid])

    def _first_paint(self) -> None:
        import time

        self.first_paint_at = time.perf_counter()

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

    # ------------------------------------------------------------------ models

    def load_side(self, side: str, spec: ModelSpec) -> None:
        """Load a model for one side in a thread worker; the pane shows it loading."""
        pane = self.pane(side)
        pane.model_name = f"loading {spec.name}..."
        pane.refresh_title()
        pane.set_status("loading...")
        pane.loading = True
        self.load_errors.pop(side, None)
        self._launch(CallJob(Work(WorkKind.LOAD, side), lambda: (open_model(spec), spec)))

    def _model_ready(self, side: str, model: Backend, spec: ModelSpec) -> None:
        defaults = default_settings(model, spec.template, spec.system, spec.role)
        old = self.session.model_ready(side, model, spec, defaults)
        template = self.prompts[side].template
        pane = self.pane(side)
        pane.loading = False
        pane.model_name = spec.name
        pane.refresh_title()
        offload = model.info.offload
        where = offload.describe() if offload is not None else ""
        pane.set_status(f"ready · template {template} · {where}")
        problem = None if spec.template else gguf_template_problem(model.info, template)
        pane.set_notice(problem and f"{spec.name}: {problem}")
        if problem:
            self.notify(problem, title=f"{side}: template", severity="warning", timeout=12)
        for turn in self.waiting.pop(side, []):
            self._start_turn(turn)
        if old is not None:
            self.run_worker(old.close, thread=True, group="close", exit_on_error=False)

    # ------------------------------------------------------------------ turns

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

    @on(Input.Submitted, "#prompt")
    def _submitted(self, event: Input.Submitted) -> None:
        text = event.value
        continuing = self.mode == "document" and any(self.transcripts[s].document() for s in SIDES)
        if not text.strip() and not continuing:
            return
        if self.send(text):
            event.input.value = ""

    def _nothing_loaded(self) -> bool:
        """True (and said) when no side has a model nor is loading one."""
        if any(self.models.values()) or any(self.pane(s).loading for s in SIDES):
            return False
        self.notify(
            "No model is loaded, so nothing was sent; your message stays in the input. "
            "F5 opens the models panel.",
            severity="warning",
        )
        return True

    def send(self, text: str) -> bool:
        """Start one turn on both sides: build each prompt, then stream both at once.

        Returns:
            False when no side has a model (nor is loading one): the text stays in the input.
        """
        if self._nothing_loaded():
            return False
        self.action_stop()
        for side in SIDES:
            for earlier in self.waiting.pop(side, []):
                self._miss_turn(earlier, "a newer message was sent while the model loaded")
        for turn in self.session.send(text).values():
            self._start_turn(turn)
        return True

    def _miss_turn(self, turn: Turn, why: str) -> None:
        """A waiting turn that will not run: its pane says so, in place of a reply."""
        if turn.reason is None:
            message = f"{turn.side} missed this message: {why}"
            self.session.fail(turn, message)
            self._show_error(turn.side, message)

    def _start_turn(self, turn: Turn) -> None:
        """Stream this turn's reply (the session builds its prompt); a turn that cannot
        start shows why in its pane."""
        pane = self.pane(turn.side)
        pane.cursor = -1
        if self.models[turn.side] is None and pane.loading:
            self.waiting.setdefault(turn.side, []).append(turn)
            pane.set_status("loading... your message waits for this model")
            pane.mark_dirty()
            return
        job = self.session.start_job(turn)
        if job is None:
            pane.mark_dirty()
            return
        pane.set_status("prompt...")
        self._launch(job)

    def _turn(self, node: int | None) -> Turn | None:
        return self.session.turn(node) if node is not None else None

    @on(TokensArrived)
    def _tokens(self, msg: TokensArrived) -> None:
        turn = self._turn(msg.work.node)
        if turn is None:
            return
        self.session.add_tokens(turn, msg.events)
        status = f"{msg.tokens} tok · {msg.tok_s:.1f} tok/s · streaming"
        self.pane(msg.work.side).set_status_soon(status)

    @on(GenerationDone)
    def _done(self, msg: GenerationDone) -> None:
        turn = self._turn(msg.work.node)
        if turn is None:
            return
        fin = msg.finished
        self.session.finish(turn, fin)
        pane = self.pane(msg.work.side)
        pane.set_status(stats_line(fin))
        # the last paint of a turn is not throttled: the finished reply shows at once
        pane.refresh_body()
        for job in self.session.score_jobs(turn):
            self._launch(job)

    @on(CallDone)
    def _call_done(self, msg: CallDone) -> None:
        work = msg.work
        if work.kind is WorkKind.LOAD:
            model, spec = msg.result
            self._model_ready(work.side, model, spec)
            return
        turn = self._turn(work.node)
        if turn is None:
            return
        views, analysis = msg.result
        self.session.set_scores(turn, views, analysis)
        self.pane(work.side).mark_dirty()
        if work.side == "aligned" and self.session.tree.on_screen(turn):
            self._show_shift(turn)

    def _show_error(self, side: str | None, message: str) -> None:
        self.notify(message, title=f"{side or 'playground'}: error", severity="error", timeout=8)
        if side is not None:
            pane = self.pane(side)
            pane.set_status(f"error: {message[:120]}")
            pane.mark_dirty()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker failures become messages in place."""
        worker = event.worker
        work = self._work.get(worker)
        if event.state in _ENDED:
            self._work.pop(worker, None)
            if work is not None:
                self._settle_when_quiet()
        if work is None:
            if event.state == WorkerState.ERROR:
                self.notify(str(worker.error or "unknown error"), severity="error")
            return
        side = work.side
        turn = self._turn(work.node)
        if event.state == WorkerState.ERROR:
            error = worker.error
            message = str(error) if error is not None else "unknown error"
            self.session.failed(work, message)
            if work.kind is WorkKind.GENERATE and turn is not None:
                self._show_error(side, message)
            elif work.kind is WorkKind.LOAD:
                pane = self.pane(side)
                pane.loading = False
                kept = self.specs.get(side)
                # A failed load keeps the model the side already had, if any.
                pane.model_name = f"{kept.name} (new load failed)" if kept else "(load failed)"
                pane.refresh_title()
                pane.set_notice(f"Loading failed: {message}\nF5 loads another model.")
                self._show_error(side, message)
                for waiting in self.waiting.pop(side, []):
                    self._miss_turn(waiting, f"the model did not load: {message}")
            elif work.kind is WorkKind.SCORE:
                self.query_one(ShiftChart).show_counts(Counter(), note=f"shift: {message}")
        elif event.state == WorkerState.CANCELLED and work.kind is WorkKind.GENERATE:
            if turn is not None and turn.reason is None:
                self.session.cancelled(turn)
                self.pane(side).set_status("stopped")
                self.pane(side).mark_dirty()

    def _settle_when_quiet(self) -> None:
        """Once no model is loading, streaming or scoring, tidy memory (gc_policy.settle),
        a moment later so the final paint of a reply goes first."""
        busy = any(
            w.state in (WorkerState.PENDING, WorkerState.RUNNING) and w in self._work
            for w in self.workers
        )
        if not busy:
            self.set_timer(0.25, gc_policy.settle)

    # ------------------------------------------------------------------ shift

    def _show_shift(self, turn: Turn | None) -> None:
        """The shift bar: how the base model ranked each token of this aligned reply."""
        chart = self.query_one(ShiftChart)
        if turn is None or not turn.other:
            chart.show_counts(Counter(), note="shift: waiting for both replies")
            return
        views = turn.other
        counts = Counter(v.shift_class for v in views if v and v.shift_class)
        note = (
            "approximate (different vocabularies)"
            if any(v and v.approximate for v in views)
            else "aligned reply, ranked by base"
        )
        chart.show_counts(counts, note=note)

    @on(ModelPane.Typed)
    async def _typed_in_pane(self, msg: ModelPane.Typed) -> None:
        box = self.query_one("#prompt", Input)
        box.focus()
        if msg.character is None:
            await box.action_submit()
        else:
            box.insert_text_at_cursor(msg.character)

    @on(ModelPane.TokenSelected)
    def _selected(self, msg: ModelPane.TokenSelected) -> None:
        side = msg.pane.side
        turns = self.transcripts[side].turns
        turn = turns[msg.turn] if 0 <= msg.turn < len(turns) else None
        if turn is None or msg.index >= len(turn.events):
            return
        self.selected = (side, turn.id, msg.index)
        other = turn.other[msg.index] if msg.index < len(turn.other) else None
        mine, theirs = self.models[side], self.models[OTHER[side]]
        self.query_one(TokenInspector).show_token(
            side,
            OTHER[side],
            turn.events[msg.index],
            other,
            vocab=mine.vocab if mine is not None else None,
            other_vocab=theirs.vocab if theirs is not None else None,
            capabilities=mine.capabilities if mine is not None else None,
            forced=turn.forced.get(msg.index),
        )

    # ------------------------------------------------------------------ forks

    def selected_token(self) -> tuple[Turn, int] | None:
        """The turn and token index in the inspector, if it is still on screen."""
        if self.selected is None:
            return None
        _side, node, index = self.selected
        turn = self._turn(node)
        if turn is None or index >= len(turn.events) or not self.session.tree.on_screen(turn):
            return None
        return turn, index

    def _need_selection(self) -> tuple[Turn, int] | None:
        picked = self.selected_token()
        if picked is None:
            self.notify(
                "Select a token first: Tab to a pane, then ←/→, or click it.", severity="warning"
            )
        return picked

    def action_fork_here(self) -> None:
        """Fork here…: any alternative from either model's top-k, or a typed token."""
        picked = self._need_selection()
        if picked is None:
            return
        turn, index = picked
        choices = fork_choices(turn, index, self.session.tree.partner(turn), self.models)

        def chosen(choice: ForkChoice | str | None) -> None:
            if isinstance(choice, str):
                self._fork(self.session.typed_fork_job(turn, index, choice))
            elif choice is not None:
                job = self.session.fork_job(
                    turn, index, choice.ids, choice.source, choice.from_side, choice.note
                )
                self._fork(job)

        self.push_screen(ForkScreen(turn, index, choices), chosen)

    def action_swap(self) -> None:
        """Give this model the other model's token at this position, and let it go on."""
        picked = self._need_selection()
        if picked is not None:
            self._fork(self.session.swap_job(*picked))

    @on(TokenInspector.Picked)
    def _picked(self, msg: TokenInspector.Picked) -> None:
        """A click on a top-k entry in the inspector forks with it."""
        picked = self.selected_token()
        if picked is not None:
            self._fork(self.session.pick_job(*picked, msg.token, theirs=not msg.mine))

    def fork(
        self,
        turn: Turn,
        at: int,
        ids: Sequence[int],
        source: str = "pick",
        from_side: str | None = None,
        note: str = "",
    ) -> Turn | None:
        """Cut `turn`'s reply at token `at`, force `ids` there and let the model go on; the
        old reply stays as a sibling. Returns the new branch (None, with a notice, when
        that cannot be done)."""
        return self._fork(self.session.fork_job(turn, at, ids, source, from_side, note))

    def _fork(self, job: StreamJob | None) -> Turn | None:
        if job is None:
            return None
        self._launch(job)  # exclusive: the side's running stream stops first
        self.pane(job.work.side).set_status(f"forked: {job.work.side} goes on from your token")
        self._branch_shown(job.work.side)
        return self._turn(job.work.node)

    def _branch_shown(self, side: str) -> None:
        """Another branch is on screen: the inspector's token may be gone with the old
        one, and the shift bar follows the aligned branch shown."""
        if self.selected is not None and self.selected_token() is None:
            self.selected = None
            self.query_one(TokenInspector).clear_token()
        if side == "aligned":
            self._show_shift(self.transcripts["aligned"].last)

    @on(ModelPane.Branch)
    def _branch(self, msg: ModelPane.Branch) -> None:
        turns = self.transcripts[msg.pane.side].turns
        if 0 <= msg.turn < len(turns):
            self.swipe(turns[msg.turn], msg.delta)

    def action_branch(self, delta: int) -> None:
        """The previous / next branch of the selected token's turn (else the last aligned
        turn that has siblings)."""
        picked = self.selected_token()
        if picked is not None:
            self.swipe(picked[0], delta)
            return
        for side in ("aligned", "base"):
            for turn in reversed(self.transcripts[side].turns):
                if len(self.session.tree.siblings(turn)) > 1:
                    self.swipe(turn, delta)
                    return
        self.notify("No branches yet: fork at a token (f) or regenerate (Ctrl+R).")

    def action_previous_branch(self) -> None:
        self.action_branch(-1)

    def action_next_branch(self) -> None:
        self.action_branch(1)

    def swipe(self, turn: Turn, delta: int) -> None:
        """Show a sibling of `turn` (a swipe); the choices below it are kept."""
        shown = self.session.swipe(turn, delta)
        place = self.session.tree.place(shown)
        pane = self.pane(turn.side)
        pane.cursor = -1
        pane.set_status(f"branch {place.index + 1}/{place.count}")
        pane.mark_dirty()
        self._branch_shown(turn.side)

    # ------------------------------------------------------------------ actions

    def action_stop(self) -> None:
        """Esc: stop both streams; the partial replies stay, marked stopped."""
        self.session.stop()
        for side in SIDES:
            self.workers.cancel_group(self, Work(WorkKind.GENERATE, side).group)

    def action_cycle_views(self) -> None:
        for side in SIDES:
            self.pane(side).action_cycle_view()

    def action_toggle_mode(self) -> None:
        self.mode = "document" if self.mode == "chat" else "chat"
        self._update_subtitle()
        box = self.query_one("#prompt", Input)
        if self.mode == "document":
            box.placeholder = DOCUMENT_PLACEHOLDER
            self.notify(
                "Document mode: both models continue your text as raw text, no template. "
                "Each message adds to the document, an empty Enter continues it, "
                "Ctrl+L starts a new one."
            )
        else:
            box.placeholder = CHAT_PLACEHOLDER
            self.notify("Chat mode: each model sees the conversation through its template.")

    def action_toggle_inspector(self) -> None:
        inspector = self.query_one(TokenInspector)
        inspector.display = not inspector.display

    def _repaint_panes(self) -> None:
        """After the conversation on screen changed as a whole: repaint, and the inspector
        forgets a token that belonged to what was there."""
        for side in SIDES:
            self.pane(side).cursor = -1
            self.pane(side).mark_dirty()
        if self.selected_token() is None:
            self.selected = None
            self.query_one(TokenInspector).clear_token()

    def action_regenerate(self) -> None:
        """Both last replies again, as new siblings (the old ones stay, a swipe away)."""
        if self._nothing_loaded():
            return
        self.action_stop()
        for turn in self.session.regenerate().values():
            self._start_turn(turn)
        self._repaint_panes()

    def action_edit_last(self) -> None:
        """The last message back in the input; sending it makes a sibling turn."""
        self.action_stop()
        text = self.session.edit_last()
        self._repaint_panes()
        if text is not None:
            box = self.query_one("#prompt", Input)
            box.value = text
            box.focus()

    def action_clear(self) -> None:
        self.action_stop()
        self.session.clear()
        self._repaint_panes()
        self.query_one(ShiftChart).show_counts(Counter(), note="shift: waiting for both replies")

    def action_new_conversation(self) -> None:
        self.action_stop()
        if self.store is not None:
            self.store.close()
        self.session.reset()
        self._repaint_panes()
        self.query_one(ShiftChart).show_counts(Counter(), note="shift: waiting for both replies")
        self.notify("New conversation")

    def action_resume(self, path: Path | None = None) -> None:
        """Load the latest saved conversation (or `path`) back into the panes."""
        path = path or latest_conversation()
        if path is None:
            self.notify("No saved conversation to resume.", severity="warning")
            return
        try:
            log = read_log(path)
        except OSError as exc:
            self.notify(
                f"Cannot read {path}: {describe_os_error(exc)}. The conversation on screen "
                "stays as it was.",
                title="resume failed",
                severity="error",
                timeout=10,
            )
            return
        self.action_stop()
        if self.store is not None:
            self.store.close()
        store = ConversationFile.open_existing(path)
        store.on_problem = self._store_problem
        skipped = log.skipped + self.session.resume(log.events, store)
        self._repaint_panes()
        for side in SIDES:
            last = self.transcripts[side].last
            if last is not None and last.finished is not None:
                self.pane(side).set_status(stats_line(last.finished))
        self._show_shift(self.transcripts["aligned"].last)
        turns = len(self.transcripts["base"].turns)
        if skipped:
            self.notify(
                f"Resumed {path.name}: {turns} turn(s). Skipped {skipped} damaged record(s) "
                "that could not be read; every other record is back.",
                severity="warning",
                timeout=10,
            )
        else:
            self.notify(f"Resumed {path.name}: {turns} turn(s)")

    def _write_failed(self, what: str, folder: Path, exc: OSError) -> None:
        self.notify(
            f"Cannot write the {what} to {folder}: {describe_os_error(exc)}. Fix: set "
            f"{DATA_DIR_ENV} to a folder you can write to.",
            title=f"{what} not saved",
            severity="error",
            timeout=10,
        )

    def action_save_svg(self) -> None:
        folder = data_dir() / "screenshots"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            saved = self.save_screenshot(path=str(folder))
        except OSError as exc:
            self._write_failed("screenshot", folder, exc)
            return
        self.notify(f"Screenshot saved: {saved}")

    def action_export(self) -> None:
        """Markdown of the conversation, and the HTML shift report where analysis offers it."""
        folder = data_dir() / "exports"
        name = self.store.id if self.store is not None else "conversation"
        forks = self.session.forks()
        depth = {shown.id: self.session.tree.depth(shown) for shown, _ in forks}
        try:
            md = exports.write_markdown(
                folder / f"{name}.md", self.transcripts, self.specs, forks, depth
            )
            html = exports.write_html(
                folder / f"{name}.html",
                self.transcripts,
                self.specs,
                self._lesson_figures(),
                forks,
                depth,
            )
        except OSError as exc:
            self._write_failed("export", folder, exc)
            return
        self.notify(
            f"Exported {md}"
            + (f" and {html}" if html else " (HTML report: waits for both replies' analysis)")
        )

    def action_toggle_urial(self) -> None:
        """One key: the base model gets URIAL's in-context alignment prompt (or not)."""
        base = self.settings["base"]
        on = not base.urial_prompt
        self.set_settings("base", base.replace(urial_prompt=on))
        self.notify(
            "URIAL prompt on for the base model: from the next turn it sees three worked "
            "examples before the query."
            if on
            else "URIAL prompt off for the base model."
        )

    def _back_to_input(self, _result: object = None) -> None:
        """A panel closed: typing goes to the input again, not to whatever had focus
        before (a pane, whose own keys would take the first letters)."""
        self.call_after_refresh(self.query_one("#prompt", Input).focus)

    def action_help(self) -> None:
        from playground.ui.screens.help import HelpScreen

        self.push_screen(HelpScreen(), self._back_to_input)

    def action_templates(self) -> None:
        from playground.ui.screens.templates import TemplatesScreen

        self.push_screen(TemplatesScreen(), self._back_to_input)

    def action_sampling(self) -> None:
        from playground.ui.screens.sampling import SamplingScreen

        self.push_screen(SamplingScreen(), self._back_to_input)

    def action_models(self) -> None:
        from playground.ui.screens.models import ModelsScreen

        self.push_screen(ModelsScreen(), self._back_to_input)

    def _lesson_figures(self) -> list[Any]:
        """The lessons run in this session, for the HTML report (in the screen's language)."""
        if not self.is_screen_installed("lessons"):
            return []
        from playground.ui.screens.lessons import LessonsScreen

        screen = self.get_screen("lessons")
        return screen.figures_json() if isinstance(screen, LessonsScreen) else []

    def action_lessons(self) -> None:
        """The Lessons screen; installed once, so a lesson keeps running while it is closed
        and its results are there when it opens again."""
        from playground.ui.screens.lessons import LessonsScreen

        if not self.is_screen_installed("lessons"):
            self.install_screen(LessonsScreen(), name="lessons")
        self.push_screen("lessons")

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

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for title, help_text, action in COMMANDS:
            yield SystemCommand(title, help_text, getattr(self, f"action_{action}"))

    def on_unmount(self) -> None:
        if self.store is not None:
            self.store.close()


def stats_line(fin: Finished) -> str:
    """A finished reply's status line: length, speed, why it ended, prompt reuse."""
    shown = "stopped" if fin.reason.value == "cancelled" else fin.reason.value
    return (
        f"{fin.tokens} tok · {fin.tok_per_s:.1f} tok/s · {shown} · "
        f"prompt {fin.prompt_tokens} ({fin.reused_tokens} cached)"
    )


COMMANDS: tuple[tuple[str, str, str], ...] = tuple(palette_commands())
