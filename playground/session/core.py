"""The session: what a conversation is, without a screen.

It owns the conversation tree (every reply kept, one branch on screen per side), the turns
as their data arrives, the conversation file (each change recorded as it happens, so
replaying the file gives the same tree), each side's model, template and sampler settings,
and what runs: it hands out the streams, forks and scorings as typed jobs, and takes their
results back. The app turns key presses and worker messages into calls here and runs the
jobs in thread workers; the tests drive it directly.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from playground.engine.backend import Backend
from playground.engine.errors import PromptTooLong
from playground.engine.settings import SamplerSettings
from playground.engine.types import Finished, TokenEvent
from playground.session.forking import fork_stream, handover, handover_piece
from playground.session.jobs import (
    CallJob,
    Notice,
    StreamJob,
    Work,
    WorkKind,
    live_settings,
)
from playground.session.records import finished_record, jsonable, token_record, view_record
from playground.session.scoring import analyse_turn
from playground.session.store import (
    Appender,
    Replayer,
    node_record,
    prompt_tokens_record,
)
from playground.session.tree import ConversationTree
from playground.session.turns import (
    OTHER,
    SIDES,
    ForcedToken,
    ForkOrigin,
    OtherView,
    PromptToken,
    SideTranscript,
    Turn,
)
from playground.templates.prompt import (
    PromptSettings,
    TemplateProblem,
    build_prompt,
    reply_stops,
)


class Session:
    """One conversation: the tree, the branch on screen, and the file it is saved in.

    Args:
        open_store: makes the conversation file on the first record (a new conversation
            writes no file until something happens in it).
        notify: shows a Notice to the user (warnings, and why something was not done).
    """

    def __init__(
        self,
        open_store: Callable[[], Appender] | None = None,
        notify: Callable[[Notice], None] | None = None,
    ) -> None:
        self.tree = ConversationTree()
        self.transcripts: dict[str, SideTranscript] = {s: SideTranscript(s) for s in SIDES}
        """The branch on screen per side; the same objects for the whole session, updated
        in place (the panes hold them)."""
        self.mode = "chat"
        self.store: Appender | None = None
        self._open_store = open_store
        self._exchange = 0
        self.notify = notify or (lambda notice: None)
        self.models: dict[str, Backend | None] = dict.fromkeys(SIDES)
        self.specs: dict[str, Any] = dict.fromkeys(SIDES)
        """Each side's ModelSpec from models.toml, once its model has loaded."""
        self.prompts: dict[str, PromptSettings] = {s: PromptSettings() for s in SIDES}
        """Each side's template, system prompt, stop choice and injection switch."""
        self._restored: dict[str, PromptSettings] = {}
        """Prompt settings of a resumed conversation for a side whose model still loads."""
        self.settings: dict[str, SamplerSettings] = {s: SamplerSettings() for s in SIDES}
        self.load_errors: dict[str, str] = {}
        self.max_tokens_override: int | None = None
        self._scoring: set[int] = set()
        """Turns whose scoring has been handed out (each reply is scored once)."""
        self._streams: dict[str, StreamJob] = {}
        """The last stream handed out per side (stopped by `stop`, or by the next one)."""

    # ------------------------------------------------------------------ the file

    def record(self, kind: str, **payload: Any) -> None:
        if self.store is None:
            if self._open_store is None:
                return
            self.store = self._open_store()
        self.store.append(kind, **payload)

    def _show(self) -> None:
        for side in SIDES:
            self.tree.transcript_of(side, self.transcripts[side])

    def _add(self, turn: Turn) -> Turn:
        self.tree.add(turn)
        self.record("node", **node_record(turn))
        return turn

    def _new_turn(self, side: str, user: str, mode: str, parent: int | None) -> Turn:
        return Turn(
            user=user,
            mode=mode,
            template="",
            id=self.tree.new_id(),
            side=side,
            parent=parent,
            exchange=self._exchange,
        )

    # ------------------------------------------------------------------ the tree

    def send(self, text: str) -> dict[str, Turn]:
        """A new message: one new turn per side, after the branch on screen."""
        self._exchange += 1
        out = {
            side: self._add(self._new_turn(side, text, self.mode, self.tree.leaf(side)))
            for side in SIDES
        }
        self._show()
        return out

    def last_turns(self) -> dict[str, Turn]:
        return {s: t.last for s, t in self.transcripts.items() if t.last is not None}

    def regenerate(self) -> dict[str, Turn]:
        """Each side's last reply again, as a new sibling (the old one stays, a swipe away)."""
        lasts = self.last_turns()
        if not lasts:
            return {}
        self._exchange += 1
        out = {
            side: self._add(self._new_turn(side, last.user, last.mode, last.parent))
            for side, last in lasts.items()
        }
        self._show()
        return out

    def edit_last(self) -> str | None:
        """End the branch on screen before the last message (kept in the tree); returns the
        message so it can be edited and sent again as a sibling."""
        lasts = self.last_turns()
        if not lasts:
            return None
        for side, last in lasts.items():
            self._cut(side, last.parent)
        self._show()
        return next(iter(lasts.values())).user

    def clear(self) -> None:
        """Empty panes; the turns stay in the tree and the file."""
        for side in SIDES:
            if self.transcripts[side].turns:
                self._cut(side, None)
        self._show()

    def _cut(self, side: str, parent: int | None) -> None:
        self.tree.select(side, parent, None)
        self.record("select", side=side, parent=parent, node=None)

    def fork(
        self,
        turn: Turn,
        at: int,
        forced: Sequence[int],
        source: str,
        *,
        from_side: str | None = None,
        note: str = "",
    ) -> Turn:
        """A new sibling of `turn` that keeps its first `at` tokens; the caller streams the
        forced tokens and the continuation into it. Shown at once."""
        if not 0 <= at <= len(turn.events):
            raise ValueError(f"no token {at} in a reply of {len(turn.events)} tokens")
        if not forced:
            raise ValueError("a fork needs at least one token to force")
        new = self._new_turn(turn.side, turn.user, turn.mode, turn.parent)
        new.exchange = turn.exchange
        new.fork = ForkOrigin(turn.id, at)
        new.events.extend(turn.events[:at])
        marker = ForcedToken(source, from_side, note)
        new.forced = {at + n: marker for n in range(len(forced))}
        self._add(new)
        self._show()
        return new

    def swipe(self, turn: Turn, delta: int) -> Turn:
        """Show the sibling `delta` places from `turn`; the choices below it are kept."""
        shown = self.tree.swipe(turn, delta)
        if shown is not turn:
            self.record("select", side=turn.side, parent=turn.parent, node=shown.id)
            self._show()
        return shown

    def turn(self, node: int) -> Turn | None:
        return self.tree.get(node)

    # ------------------------------------------------------------------ turn data

    def set_prompt(
        self,
        turn: Turn,
        template: str,
        text: str,
        tokens: Sequence[PromptToken],
        settings: Any = None,
        warnings: Sequence[str] = (),
        *,
        prompt_settings: PromptSettings | None = None,
        markers: frozenset[int] = frozenset(),
        user_specials: bool = False,
        stop: Sequence[str] = (),
    ) -> None:
        """The prompt a turn is built from, and the settings it was built with (saved, so a
        resume restores them)."""
        turn.template = template
        turn.prompt = list(tokens)
        turn.prompt_text = text
        turn.settings = settings
        turn.prompt_settings = prompt_settings
        turn.markers = markers
        turn.user_specials = user_specials
        turn.stop = tuple(stop)
        self.record(
            "prompt",
            node=turn.id,
            side=turn.side,
            template=template,
            text=text,
            ids=[t.id for t in tokens],
            tokens=prompt_tokens_record(tokens),
            settings=jsonable(settings),
            prompt_settings=jsonable(prompt_settings),
            markers=sorted(markers),
            user_specials=user_specials,
            stop=list(stop),
            warnings=list(warnings),
        )

    def add_tokens(self, turn: Turn, events: Iterable[TokenEvent]) -> None:
        batch = list(events)
        turn.events.extend(batch)
        self.record("tokens", node=turn.id, side=turn.side, tokens=[token_record(e) for e in batch])

    def finish(self, turn: Turn, fin: Finished) -> None:
        turn.finished = fin
        turn.reason = fin.reason.value
        self.record("finish", node=turn.id, side=turn.side, **finished_record(fin))

    def fail(self, turn: Turn, message: str) -> None:
        turn.error = message
        turn.reason = "error"
        self.record("error", node=turn.id, side=turn.side, message=message)

    def cancelled(self, turn: Turn) -> None:
        """A stream stopped before it could say so (its worker was cancelled)."""
        if turn.reason is None:
            turn.reason = "cancelled"

    def set_scores(
        self, turn: Turn, views: Sequence[OtherView | None], analysis: Any = None
    ) -> None:
        turn.other = list(views)
        turn.analysis = analysis
        self.record(
            "scores",
            node=turn.id,
            side=turn.side,
            ranks=[v.rank if v else None for v in views],
            classes=[v.shift_class if v else None for v in views],
            views=[view_record(v) for v in views],
        )

    # ------------------------------------------------------------------ resume

    def reset(self) -> None:
        """A new conversation: an empty tree, and a new file from the next record on."""
        self.tree = ConversationTree()
        self.store = None
        self._exchange = 0
        self._scoring.clear()
        self._show()

    def resume(self, records: Iterable[Mapping[str, Any]], store: Appender | None) -> int:
        """Rebuild the tree and the branch on screen from saved records; new records go to
        `store` (the same file, appended to).

        Returns:
            How many damaged records were skipped (every other one is applied).
        """
        replayer = Replayer()
        for ev in records:
            replayer.apply(ev)
        self.tree = replayer.finish()
        for side, (prompt, sampler) in replayer.setups.items():
            if prompt is not None:
                self.prompts[side] = prompt
                if self.models.get(side) is None:
                    self._restored[side] = prompt
            if sampler is not None:
                self.settings[side] = sampler
        self._exchange = max((t.exchange for t in self.tree.turns.values()), default=0)
        self.store = store
        self._scoring = {t.id for t in self.tree.turns.values() if t.other}
        self._show()
        return replayer.skipped

    def forks(self) -> list[tuple[Turn, list[Turn]]]:
        return list(self.tree.forks())

    # ------------------------------------------------------------------ sides

    def model_ready(
        self, side: str, model: Backend, spec: Any, prompt: PromptSettings | str
    ) -> Backend | None:
        """A side's model has loaded, with its default prompt settings (or just a template
        name); settings restored by a resume while it loaded win. Returns the model it
        replaces (to close), if any."""
        old = self.models.get(side)
        self.models[side] = model
        self.specs[side] = spec
        if isinstance(prompt, str):
            prompt = self.prompts[side].replace(template=prompt)
        self.prompts[side] = self._restored.pop(side, prompt)
        self.load_errors.pop(side, None)
        return old if old is not None and old is not model else None

    def load_failed(self, side: str, message: str) -> None:
        """A load failed: the side keeps the model it had, if any, and the error is kept
        for the turns that need a model."""
        self.load_errors[side] = message

    @property
    def templates(self) -> dict[str, str]:
        """Each side's template name (a view of `prompts`)."""
        return {s: p.template for s, p in self.prompts.items()}

    def set_template(self, side: str, name: str) -> None:
        """Use this template from the next turn on."""
        self.set_prompt_settings(side, self.prompts[side].replace(template=name))

    def set_prompt_settings(self, side: str, prompt: PromptSettings) -> None:
        """Template, system prompt, stops and injection for one side, from the next turn."""
        self.prompts[side] = prompt
        self._record_setup(side)

    def set_settings(self, side: str, settings: SamplerSettings) -> None:
        """Swap the settings object: a running stream picks it up at its next token."""
        self.settings[side] = settings
        self._record_setup(side)

    def _record_setup(self, side: str) -> None:
        """Save a side's settings as they change (once the conversation has a file), so a
        resume restores them exactly."""
        if self.store is not None:
            self.record(
                "setup",
                side=side,
                prompt_settings=jsonable(self.prompts[side]),
                settings=jsonable(self.settings[side]),
            )

    def update_setting(self, side: str, **changes: Any) -> None:
        self.set_settings(side, dataclasses.replace(self.settings[side], **changes))

    def max_tokens(self, side: str) -> int:
        return self.max_tokens_override or int(self.settings[side].max_tokens)

    # ------------------------------------------------------------------ what runs

    def _hand_out(self, job: StreamJob) -> StreamJob:
        """A new stream on a side replaces the one before it: that one stops."""
        old = self._streams.get(job.work.side)
        if old is not None:
            old.stop()
        self._streams[job.work.side] = job
        return job

    def stop(self, side: str | None = None) -> None:
        """Stop the streams (both sides, or one): each ends within a token, its reply kept
        and marked stopped."""
        for s, job in list(self._streams.items()):
            if side is None or s == side:
                job.stop()
                del self._streams[s]

    def start_job(self, turn: Turn) -> StreamJob | None:
        """Build `turn`'s prompt from the turns before it on its branch, record it, and
        hand out the stream of its reply. None when it cannot start: the turn then says
        why (no model, a template that fails, a prompt longer than the context)."""
        side = turn.side
        model = self.models[side]
        before = self.tree.before(turn)
        ps = self.prompts[side]
        settings = self.settings[side]
        urial = turn.mode == "chat" and side == "base" and settings.urial_prompt
        template = "urial" if urial else ps.template
        turn.template, turn.settings = template, settings
        if model is None:
            self.fail(turn, self.load_errors.get(side, "no model loaded for this side"))
            return None
        # document mode: a message extends this side's document (its text and its own
        # continuation so far); an empty one just continues it
        document = before.document() if turn.mode == "document" else ""
        history = before.history() if turn.mode == "chat" else []
        try:
            prompt = build_prompt(model, ps, turn.mode, history, document + turn.user, urial=urial)
        except TemplateProblem as exc:
            self._refuse(turn, f"template {template!r} failed: {exc}")
            return None
        stop = reply_stops(settings.stop, prompt, ps)
        self.set_prompt(
            turn,
            prompt.template,
            prompt.text,
            prompt.tokens,
            settings,
            prompt.warnings,
            prompt_settings=ps,
            markers=prompt.markers,
            user_specials=prompt.user_specials,
            stop=stop,
        )
        for warning in prompt.warnings:
            self.notify(Notice(side, warning, "warning"))
        if len(prompt.ids) >= model.info.n_ctx:
            self._refuse(turn, str(PromptTooLong(len(prompt.ids), model.info.n_ctx)))
            return None
        return self.stream_job(turn, prompt.ids, stop)

    def _refuse(self, turn: Turn, message: str) -> None:
        self.fail(turn, message)
        self.notify(Notice(turn.side, message, "error"))

    def stream_job(
        self, turn: Turn, prompt: Sequence[int], stop: Sequence[str] = ()
    ) -> StreamJob | None:
        """The job that streams `turn`'s reply from `prompt`, ending before any of `stop`;
        None (and the turn marked failed) when the side has no model."""
        side = turn.side
        model = self.models[side]
        if model is None:
            self.fail(turn, self.load_errors.get(side, "no model loaded for this side"))
            return None
        ids = list(prompt)
        max_tokens = self.max_tokens(side)

        def open_stream(cancel: Callable[[], bool]) -> Any:
            return model.stream(
                ids,
                settings=live_settings(model, lambda: self.settings[side]),
                max_tokens=max_tokens,
                stop=tuple(stop),
                top_k=5,
                cancel=cancel,
            )

        return self._hand_out(StreamJob(Work(WorkKind.GENERATE, side, turn.id), open_stream))

    def fork_job(
        self,
        turn: Turn,
        at: int,
        ids: Sequence[int],
        source: str,
        from_side: str | None = None,
        note: str = "",
    ) -> StreamJob | None:
        """Cut `turn`'s reply at token `at`, force `ids` there and go on: a new sibling, on
        screen at once, and the job that streams it. None (with a notice) when that cannot
        be done."""
        side = turn.side
        model = self.models[side]
        if model is None or not turn.prompt:
            why = "no model is loaded" if model is None else "this reply has no prompt"
            self.notify(Notice(side, f"cannot fork here: {why}.", "warning"))
            return None
        new = self.fork(turn, at, ids, source, from_side=from_side, note=note)
        settings = self.settings[side]
        self.set_prompt(
            new,
            turn.template,
            turn.prompt_text,
            turn.prompt,
            settings,
            prompt_settings=turn.prompt_settings,
            markers=turn.markers,
            user_specials=turn.user_specials,
            stop=turn.stop,
        )
        stop = turn.stop
        prompt_ids = [p.id for p in turn.prompt]
        prefix = list(new.events)
        forced = list(ids)
        max_tokens = max(self.max_tokens(side), at + len(forced))

        def open_stream(cancel: Callable[[], bool]) -> Any:
            return fork_stream(
                model,
                prompt_ids,
                prefix,
                forced,
                max_tokens=max_tokens,
                cancel=cancel,
                settings=live_settings(model, lambda: self.settings[side]),
                stop=stop,
                top_k=5,
            )

        return self._hand_out(StreamJob(Work(WorkKind.GENERATE, side, new.id), open_stream))

    def typed_fork_job(self, turn: Turn, at: int, text: str) -> StreamJob | None:
        """Fork with the user's text, tokenized by this side's model (special tokens too)."""
        model = self.models[turn.side]
        if model is None:
            self.notify(Notice(turn.side, "no model is loaded to fork with.", "warning"))
            return None
        ids = model.tokenize(text, special=True, add_bos=False) if text else []
        if not ids:
            self.notify(Notice(turn.side, "type the token to put there (its text).", "warning"))
            return None
        note = f"typed {text!r}: {len(ids)} tokens" if len(ids) > 1 else ""
        return self.fork_job(turn, at, ids, "typed", note=note)

    def pick_job(self, turn: Turn, at: int, token: int, theirs: bool) -> StreamJob | None:
        """Fork with an entry of the inspector's top-k lists at `at`: this model's
        (`theirs` False) or the other model's, handed over by text across vocabularies."""
        if not theirs:
            return self.fork_job(turn, at, [token], "pick")
        other = OTHER[turn.side]
        mine, model = self.models[turn.side], self.models[other]
        view = turn.other[at] if at < len(turn.other) else None
        piece = None
        if view is not None:
            piece = next(
                (p for i, (p, _) in zip(view.top_ids, view.top, strict=False) if i == token), None
            )
        if mine is None or model is None or piece is None:
            self.notify(
                Notice(turn.side, f"the {other} model's top-k has no such token here.", "warning")
            )
            return None
        given = handover_piece(mine, model.vocab, token, piece)
        if not given.ids:
            self.notify(Notice(turn.side, "that token has no text to hand over.", "warning"))
            return None
        return self.fork_job(turn, at, given.ids, "pick", other, given.note)

    def swap_job(self, turn: Turn, at: int) -> StreamJob | None:
        """Give this model the other model's token at position `at` and let it go on: across
        vocabularies the token's text, re-tokenized (and a notice that says so)."""
        other = OTHER[turn.side]
        partner = self.tree.partner(turn)
        mine, theirs = self.models[turn.side], self.models[other]
        if partner is None or at >= len(partner.events):
            self.notify(Notice(turn.side, f"the {other} reply has no token #{at}.", "warning"))
            return None
        if mine is None or theirs is None:
            self.notify(Notice(turn.side, "a swap needs both models loaded.", "warning"))
            return None
        given = handover(mine, theirs.vocab, partner.events[at])
        if not given.ids:
            self.notify(
                Notice(turn.side, f"the {other} token #{at} has no text to hand over.", "warning")
            )
            return None
        if given.note:
            self.notify(Notice(turn.side, given.note))
        return self.fork_job(turn, at, given.ids, "swap", other, given.note)

    def score_jobs(self, turn: Turn) -> list[CallJob]:
        """Once a reply and the other side's reply at the same point have both finished,
        the scorings of each (not scored yet) under the other model."""
        partner = self.tree.partner(turn)
        if partner is None:
            return []
        pair = (turn, partner)
        if any(t.finished is None or not t.prompt for t in pair):
            return []
        jobs = []
        for mine, theirs in (pair, pair[::-1]):
            producer, scorer = self.models[mine.side], self.models[theirs.side]
            if producer is None or scorer is None or mine.id in self._scoring:
                continue
            self._scoring.add(mine.id)
            ids = [e.id for e in mine.events]
            s_ctx = [p.id for p in theirs.prompt]
            if len(s_ctx) + len(ids) > scorer.info.n_ctx:
                # known before scoring: say so instead of failing a worker
                self.notify(
                    Notice(
                        mine.side,
                        f"shift: the {mine.side} reply does not fit the {theirs.side} "
                        f"model's context ({len(s_ctx) + len(ids)} > {scorer.info.n_ctx} "
                        "tokens)",
                        "warning",
                    )
                )
                continue
            call = functools.partial(
                analyse_turn,
                producer,
                scorer,
                [p.id for p in mine.prompt],
                s_ctx,
                ids,
                list(mine.events),
            )
            jobs.append(CallJob(Work(WorkKind.SCORE, mine.side, mine.id), call))
        return jobs

    def failed(self, work: Work, message: str) -> Turn | None:
        """A job failed: a stream's turn shows the error, a load keeps the side's model.
        Returns the turn the work was for, if any."""
        turn = self.tree.get(work.node) if work.node is not None else None
        if work.kind is WorkKind.GENERATE and turn is not None:
            self.fail(turn, message)
        elif work.kind is WorkKind.LOAD:
            self.load_failed(work.side, message)
        return turn
