"""The playground app: two models side by side above one input.

The app holds the state (models, templates, sampler settings, transcripts) and routes
messages; the panes paint, the workers compute, the core modules do the real work. Every
user-visible action is a method here so the bindings, the command palette and the tests all
go through the same path.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Input
from textual.worker import Worker, WorkerState

from playground.config import Config, ConfigError, ModelSpec, load_config, open_model
from playground.engine.backend import Backend
from playground.engine.settings import SamplerSettings
from playground.session.turns import SIDES, SideTranscript, Turn
from playground.ui import exports, gc_policy, themes
from playground.ui.conversation_store import (
    ConversationFile,
    data_dir,
    finished_record,
    jsonable,
    latest_conversation,
    token_record,
    view_record,
)
from playground.ui.frames import FrameClock
from playground.ui.prompting import TemplateProblem, build_prompt, default_template
from playground.ui.replay import replay
from playground.ui.shift import analyse_turn
from playground.ui.widgets.inspector import TokenInspector
from playground.ui.widgets.model_pane import MAX_FPS, ModelPane
from playground.ui.widgets.shift_chart import ShiftChart
from playground.ui.workers import (
    GenerationDone,
    ModelReady,
    ScoresReady,
    TokensArrived,
    generate,
    load_model,
    score_reply,
)

OTHER = {"base": "aligned", "aligned": "base"}


SWITCH_INTERVAL_S = 0.0005

CHAT_PLACEHOLDER = "Message both models (Enter sends, Esc stops)"
DOCUMENT_PLACEHOLDER = "Add to the document (Enter; empty Enter continues it, Ctrl+L starts anew)"

_ENDED = (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED)


class PlaygroundApp(App[int]):
    """Base and aligned model, side by side."""

    CSS_PATH = "app.tcss"
    TITLE = "playground"
    SUB_TITLE = "base vs aligned"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop", "Stop"),
        Binding("f1", "help", "Help"),
        Binding("f2", "cycle_views", "View"),
        Binding("f3", "templates", "Templates"),
        Binding("f4", "sampling", "Sampling"),
        Binding("f5", "models", "Models"),
        Binding("f6", "toggle_mode", "Chat/Doc"),
        Binding("f7", "toggle_inspector", "Inspector", show=False),
        Binding("f8", "toggle_urial", "URIAL"),
        Binding("ctrl+r", "regenerate", "Regen"),
        # priority: the Input has ctrl+e (end) and ctrl+x (cut) and almost always has focus
        Binding("ctrl+e", "edit_last", "Edit", show=False, priority=True),
        Binding("ctrl+l", "clear", "Clear", show=False),
        Binding("ctrl+n", "new_conversation", "New", show=False),
        Binding("ctrl+o", "resume", "Resume", show=False),
        Binding("ctrl+s", "save_svg", "SVG", show=False),
        Binding("ctrl+x", "export", "Export", show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit"),
    ]

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
        self.max_tokens_override = max_tokens
        self.load_models_on_start = load_models
        self.models: dict[str, Backend | None] = dict.fromkeys(SIDES)
        self.specs: dict[str, ModelSpec | None] = dict.fromkeys(SIDES)
        self.templates: dict[str, str] = {}
        self.settings: dict[str, SamplerSettings] = {s: SamplerSettings() for s in SIDES}
        self.transcripts = {s: SideTranscript(s) for s in SIDES}
        self.mode = "chat"
        self.store: ConversationFile | None = None
        self.load_errors: dict[str, str] = {}
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
        yield Input(placeholder=CHAT_PLACEHOLDER, id="prompt")
        yield Footer()

    def pane(self, side: str) -> ModelPane:
        return self.query_one(f"#pane-{side}", ModelPane)

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
        if self.config is None:
            try:
                self.config = load_config(self.config_path)
            except ConfigError as exc:
                self._show_error(None, str(exc))
                return
        if self.load_models_on_start:
            pair = self.config.pair
            for side, mid in (("base", pair.base), ("aligned", pair.aligned)):
                self.load_side(side, self.config.models[mid])

    def _first_paint(self) -> None:
        import time

        self.first_paint_at = time.perf_counter()

    def _update_subtitle(self) -> None:
        self.sub_title = f"{self.mode} mode"

    # ------------------------------------------------------------------ models

    def load_side(self, side: str, spec: ModelSpec) -> None:
        """Load a model for one side in a thread worker; the pane shows it loading."""
        pane = self.pane(side)
        pane.model_name = f"loading {spec.name}..."
        pane.refresh_title()
        pane.set_status("loading...")
        pane.loading = True
        self.load_errors.pop(side, None)
        self.run_worker(
            lambda: load_model(self, side, spec, open_model),
            name=f"load:{side}",
            group=f"load-{side}",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    @on(ModelReady)
    def _model_ready(self, msg: ModelReady) -> None:
        old = self.models.get(msg.side)
        self.models[msg.side] = msg.model
        self.specs[msg.side] = msg.spec
        self.templates[msg.side] = default_template(msg.model, msg.spec.template)
        pane = self.pane(msg.side)
        pane.loading = False
        pane.model_name = msg.spec.name
        pane.refresh_title()
        offload = msg.model.info.offload
        where = offload.describe() if offload is not None else ""
        pane.set_status(f"ready · template {self.templates[msg.side]} · {where}")
        if old is not None and old is not msg.model:
            self.run_worker(old.close, thread=True, group="close", exit_on_error=False)

    # ------------------------------------------------------------------ turns

    def _ensure_store(self) -> ConversationFile:
        if self.store is None:
            self.store = ConversationFile.create()
            self.store.append(
                "meta",
                config=str(self.config.source) if self.config else None,
                models={s: (sp.id if sp else None) for s, sp in self.specs.items()},
                names={s: (sp.name if sp else None) for s, sp in self.specs.items()},
            )
        return self.store

    @on(Input.Submitted, "#prompt")
    def _submitted(self, event: Input.Submitted) -> None:
        text = event.value
        continuing = self.mode == "document" and any(self.transcripts[s].document() for s in SIDES)
        if not text.strip() and not continuing:
            return
        event.input.value = ""
        self.send(text)

    def send(self, text: str) -> None:
        """Start one turn on both sides: build each prompt, then stream both at once."""
        if not any(self.models.values()):
            self.notify("No model is loaded yet (F5 opens the models panel).", severity="warning")
            return
        self.action_stop()
        store = self._ensure_store()
        store.append("user", text=text, mode=self.mode)
        for side in SIDES:
            self._start_side(side, text, store)

    def _start_side(self, side: str, text: str, store: ConversationFile) -> None:
        model = self.models[side]
        tr = self.transcripts[side]
        template = self.templates.get(side, "none")
        settings = self.settings[side]
        if self.mode == "chat" and side == "base" and getattr(settings, "urial_prompt", False):
            template = "urial"
        # document mode: a message extends this side's document (its text and its own
        # continuation so far); an empty one just continues it
        document = tr.document() if self.mode == "document" else ""
        turn = Turn(user=text, mode=self.mode, template=template, settings=settings)
        tr.turns.append(turn)
        index = len(tr.turns) - 1
        pane = self.pane(side)
        pane.cursor = -1
        if model is None:
            turn.error = self.load_errors.get(side, "no model loaded for this side")
            turn.reason = "error"
            pane.mark_dirty()
            return
        try:
            history = tr.history()[: 2 * index] if self.mode == "chat" else []
            prompt = build_prompt(model, template, self.mode, history, document + text)
        except TemplateProblem as exc:
            self._fail_turn(side, index, f"template {template!r} failed: {exc}")
            return
        turn.template = prompt.template
        turn.prompt = prompt.tokens
        turn.prompt_text = prompt.text
        store.append(
            "prompt",
            side=side,
            turn=index,
            template=prompt.template,
            text=prompt.text,
            ids=prompt.ids,
            tokens=[[t.id, t.piece.hex(), t.kind.value, t.special] for t in prompt.tokens],
            settings=jsonable(settings),
            warnings=prompt.warnings,
        )
        for warning in prompt.warnings:
            self.notify(f"{side}: {warning}", severity="warning")
        if len(prompt.ids) >= model.info.n_ctx:
            from playground.engine.errors import PromptTooLong

            self._fail_turn(side, index, str(PromptTooLong(len(prompt.ids), model.info.n_ctx)))
            return
        max_tokens = self.max_tokens_override or int(getattr(settings, "max_tokens", 256))
        pane.set_status("prompt...")
        pane.mark_dirty()
        self.run_worker(
            lambda: generate(
                self,
                side,
                index,
                model,
                prompt.ids,
                lambda: self.settings[side],
                max_tokens,
            ),
            name=f"gen:{side}:{index}",
            group=f"gen-{side}",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def _turn(self, side: str, index: int) -> Turn | None:
        turns = self.transcripts[side].turns
        return turns[index] if 0 <= index < len(turns) else None

    @on(TokensArrived)
    def _tokens(self, msg: TokensArrived) -> None:
        turn = self._turn(msg.side, msg.turn)
        if turn is None:
            return
        turn.events.extend(msg.events)
        if self.store is not None:
            self.store.append(
                "tokens", side=msg.side, turn=msg.turn, tokens=[token_record(e) for e in msg.events]
            )
        self.pane(msg.side).set_status_soon(f"{msg.tokens} tok · {msg.tok_s:.1f} tok/s · streaming")

    @on(GenerationDone)
    def _done(self, msg: GenerationDone) -> None:
        turn = self._turn(msg.side, msg.turn)
        if turn is None:
            return
        fin = msg.finished
        turn.finished = fin
        turn.reason = fin.reason.value
        shown = "stopped" if fin.reason.value == "cancelled" else fin.reason.value
        self.pane(msg.side).set_status(
            f"{fin.tokens} tok · {fin.tok_per_s:.1f} tok/s · {shown} · "
            f"prompt {fin.prompt_tokens} ({fin.reused_tokens} cached)"
        )
        # the last paint of a turn is not throttled: the finished reply shows at once
        self.pane(msg.side).refresh_body()
        if self.store is not None:
            self.store.append("finish", side=msg.side, turn=msg.turn, **finished_record(fin))
        self._maybe_score(msg.turn)

    def _fail_turn(self, side: str, index: int, message: str) -> None:
        turn = self._turn(side, index)
        if turn is not None:
            turn.error = message
            turn.reason = "error"
        self._show_error(side, message)
        if self.store is not None:
            self.store.append("error", side=side, turn=index, message=message)

    def _show_error(self, side: str | None, message: str) -> None:
        self.notify(message, title=f"{side or 'playground'}: error", severity="error", timeout=8)
        if side is not None:
            pane = self.pane(side)
            pane.set_status(f"error: {message[:120]}")
            pane.mark_dirty()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker failures become messages in place."""
        worker = event.worker
        kind, _, rest = (worker.name or "").partition(":")
        side, _, turn_s = rest.partition(":")
        if event.state in _ENDED and kind in ("gen", "score", "load"):
            self._settle_when_quiet()
        if event.state == WorkerState.ERROR:
            error = worker.error
            message = str(error) if error is not None else "unknown error"
            if kind == "gen":
                self._fail_turn(side, int(turn_s), message)
            elif kind == "load":
                self.load_errors[side] = message
                pane = self.pane(side)
                pane.loading = False
                kept = self.specs.get(side)
                # A failed load keeps the model the side already had, if any.
                pane.model_name = f"{kept.name} (new load failed)" if kept else "(load failed)"
                pane.refresh_title()
                self._show_error(side, message)
            elif kind == "score":
                self.query_one(ShiftChart).show_counts(Counter(), note=f"shift: {message}")
            else:
                self.notify(message, severity="error")
        elif event.state == WorkerState.CANCELLED and kind == "gen":
            turn = self._turn(side, int(turn_s))
            if turn is not None and turn.reason is None:
                turn.reason = "cancelled"
                self.pane(side).set_status("stopped")
                self.pane(side).mark_dirty()

    def _settle_when_quiet(self) -> None:
        """Once no model is loading, streaming or scoring, tidy memory (gc_policy.settle),
        a moment later so the final paint of a reply goes first."""
        busy = any(
            w.state in (WorkerState.PENDING, WorkerState.RUNNING)
            and (w.name or "").partition(":")[0] in ("gen", "score", "load")
            for w in self.workers
        )
        if not busy:
            self.set_timer(0.25, gc_policy.settle)

    # ------------------------------------------------------------------ shift

    def _maybe_score(self, index: int) -> None:
        """When both sides finished the same turn, score each reply under the other model."""
        turns = {s: self._turn(s, index) for s in SIDES}
        if any(t is None or t.finished is None or not t.prompt for t in turns.values()):
            return
        for side in SIDES:
            producer, scorer = self.models[side], self.models[OTHER[side]]
            turn, other_turn = turns[side], turns[OTHER[side]]
            if producer is None or scorer is None or turn is None or other_turn is None:
                return
            ids = [e.id for e in turn.events]
            p_ctx = [p.id for p in turn.prompt]
            s_ctx = [p.id for p in other_turn.prompt]
            events = list(turn.events)
            job = functools.partial(
                score_reply,
                self,
                side,
                index,
                functools.partial(analyse_turn, producer, scorer, p_ctx, s_ctx, ids, events),
            )
            self.run_worker(
                job,
                name=f"score:{side}:{index}",
                group=f"score-{OTHER[side]}",
                thread=True,
                exit_on_error=False,
            )

    @on(ScoresReady)
    def _scores(self, msg: ScoresReady) -> None:
        turn = self._turn(msg.side, msg.turn)
        if turn is None:
            return
        turn.other = list(msg.views)
        turn.analysis = msg.analysis
        pane = self.pane(msg.side)
        pane.mark_dirty()
        if self.store is not None:
            self.store.append(
                "scores",
                side=msg.side,
                turn=msg.turn,
                ranks=[v.rank if v else None for v in msg.views],
                classes=[v.shift_class if v else None for v in msg.views],
                views=[view_record(v) for v in msg.views],
            )
        if msg.side == "aligned":
            counts = Counter(v.shift_class for v in msg.views if v and v.shift_class)
            note = (
                "approximate (different vocabularies)"
                if any(v and v.approximate for v in msg.views)
                else "aligned reply, ranked by base"
            )
            self.query_one(ShiftChart).show_counts(counts, note=note)

    @on(ModelPane.TokenSelected)
    def _selected(self, msg: ModelPane.TokenSelected) -> None:
        side = msg.pane.side
        turn = self._turn(side, msg.turn)
        if turn is None or msg.index >= len(turn.events):
            return
        other = turn.other[msg.index] if msg.index < len(turn.other) else None
        mine, theirs = self.models[side], self.models[OTHER[side]]
        self.query_one(TokenInspector).show_token(
            side,
            OTHER[side],
            turn.events[msg.index],
            other,
            vocab=mine.vocab if mine is not None else None,
            other_vocab=theirs.vocab if theirs is not None else None,
        )

    # ------------------------------------------------------------------ actions

    def action_stop(self) -> None:
        """Esc: stop both streams; the partial replies stay, marked stopped."""
        for side in SIDES:
            self.workers.cancel_group(self, f"gen-{side}")

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

    def _drop_last_turn(self) -> str | None:
        last = self.transcripts["aligned"].last or self.transcripts["base"].last
        if last is None:
            return None
        self.action_stop()
        for side in SIDES:
            tr = self.transcripts[side]
            if tr.turns:
                tr.turns.pop()
            self.pane(side).cursor = -1
            self.pane(side).mark_dirty()
        if self.store is not None:
            self.store.append("drop_last")
        return last.user

    def action_regenerate(self) -> None:
        text = self._drop_last_turn()
        if text is not None:
            self.send(text)

    def action_edit_last(self) -> None:
        text = self._drop_last_turn()
        if text is not None:
            box = self.query_one("#prompt", Input)
            box.value = text
            box.focus()

    def action_clear(self) -> None:
        self.action_stop()
        for side in SIDES:
            self.transcripts[side].turns.clear()
            self.pane(side).cursor = -1
            self.pane(side).mark_dirty()
        if self.store is not None:
            self.store.append("clear")
        self.query_one(ShiftChart).show_counts(Counter(), note="shift: waiting for both replies")

    def action_new_conversation(self) -> None:
        self.action_clear()
        if self.store is not None:
            self.store.close()
        self.store = None
        self.notify("New conversation")

    def action_resume(self, path: Path | None = None) -> None:
        """Load the latest saved conversation (or `path`) back into the panes."""
        path = path or latest_conversation()
        if path is None:
            self.notify("No saved conversation to resume.", severity="warning")
            return
        self.action_stop()
        if self.store is not None:
            self.store.close()
        rebuilt = replay(path)
        for side in SIDES:
            self.transcripts[side].turns[:] = rebuilt[side].turns
            self.pane(side).cursor = -1
            self.pane(side).mark_dirty()
        self.store = ConversationFile.open_existing(path)
        self.notify(f"Resumed {path.name}")

    def action_save_svg(self) -> None:
        folder = data_dir() / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        saved = self.save_screenshot(path=str(folder))
        self.notify(f"Screenshot saved: {saved}")

    def action_export(self) -> None:
        """Markdown of the conversation, and the HTML shift report where analysis offers it."""
        folder = data_dir() / "exports"
        name = self.store.id if self.store is not None else "conversation"
        md = exports.write_markdown(folder / f"{name}.md", self.transcripts, self.specs)
        html = exports.write_html(folder / f"{name}.html", self.transcripts, self.specs)
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

    def action_help(self) -> None:
        from playground.ui.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def action_templates(self) -> None:
        from playground.ui.screens.templates import TemplatesScreen

        self.push_screen(TemplatesScreen())

    def action_sampling(self) -> None:
        from playground.ui.screens.sampling import SamplingScreen

        self.push_screen(SamplingScreen())

    def action_models(self) -> None:
        from playground.ui.screens.models import ModelsScreen

        self.push_screen(ModelsScreen())

    def set_template(self, side: str, name: str) -> None:
        """Use this template from the next turn on."""
        self.templates[side] = name
        self.pane(side).set_status(f"template {name} (applies to the next turn)")

    def set_settings(self, side: str, settings: SamplerSettings) -> None:
        """Swap the settings object: a running stream picks it up at its next token."""
        self.settings[side] = settings

    def update_setting(self, side: str, **changes: Any) -> None:
        self.set_settings(side, dataclasses.replace(self.settings[side], **changes))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for title, help_text, action in COMMANDS:
            yield SystemCommand(title, help_text, getattr(self, f"action_{action}"))

    def on_unmount(self) -> None:
        if self.store is not None:
            self.store.close()


COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("Stop generation", "Esc: stop both models, keep the partial replies", "stop"),
    ("Regenerate", "Drop the last turn and send the same message again", "regenerate"),
    ("Edit last message", "Put the last message back in the input", "edit_last"),
    ("Clear conversation", "Clear both panes (the file keeps the history)", "clear"),
    ("New conversation", "Start a new conversation file", "new_conversation"),
    ("Resume last conversation", "Load the most recent saved conversation", "resume"),
    ("Cycle views", "Text / raw tokens / probability, both panes", "cycle_views"),
    ("Chat / document mode", "Templates per model, or one raw text to continue", "toggle_mode"),
    ("Templates", "Pick templates, see the rendered prompt and token counts", "templates"),
    ("Sampling", "Per-model settings, tricks and presets (live)", "sampling"),
    ("Models", "Pick and load models, see GPU offload", "models"),
    ("Export", "Markdown and HTML report of this conversation", "export"),
    ("Screenshot (SVG)", "Save an SVG screenshot", "save_svg"),
    ("Toggle inspector", "Show or hide the token inspector", "toggle_inspector"),
    ("URIAL prompt", "Switch the base model's URIAL in-context prompt on or off", "toggle_urial"),
    ("Help", "Keys and what the views mean", "help"),
)
