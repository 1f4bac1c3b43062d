"""Turns and worker results: loading models, sending a message to both sides, the
messages the workers post back, and the one place a worker's failure becomes a message."""

from __future__ import annotations

from collections import Counter

from textual import on
from textual.widgets import Input
from textual.worker import Worker, WorkerState

from playground.config import ModelSpec, open_model
from playground.engine.backend import Backend
from playground.engine.types import Finished
from playground.session.jobs import CallJob, Work, WorkKind
from playground.session.turns import SIDES, Turn
from playground.templates.gguf_check import gguf_template_problem
from playground.templates.prompt import (
    default_settings,
)
from playground.ui import gc_policy
from playground.ui.app_forks import ForkFlow
from playground.ui.widgets.shift_chart import ShiftChart
from playground.ui.workers import CallDone, GenerationDone, TokensArrived

_ENDED = (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED)


class TurnFlow(ForkFlow):
    """Models loading, turns streaming and scoring, and what their workers report."""

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
            node = self._turn(job.work.node)
            shown = node is not None and self.session.tree.on_screen(node)
            if job.work.side == "aligned" and shown:
                # both replies are in: say that the ranking runs, not that it waits
                self.query_one(ShiftChart).show_counts(
                    Counter(), note="shift: ranking the aligned reply under the base model…"
                )

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

    def action_stop(self) -> None:
        """Esc: stop both streams; the partial replies stay, marked stopped."""
        self.session.stop()
        for side in SIDES:
            self.workers.cancel_group(self, Work(WorkKind.GENERATE, side).group)


def stats_line(fin: Finished) -> str:
    """A finished reply's status line: length, speed, why it ended, prompt reuse."""
    shown = "stopped" if fin.reason.value == "cancelled" else fin.reason.value
    return (
        f"{fin.tokens} tok · {fin.tok_per_s:.1f} tok/s · {shown} · "
        f"prompt {fin.prompt_tokens} ({fin.reused_tokens} cached)"
    )
