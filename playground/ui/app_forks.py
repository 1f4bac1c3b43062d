"""Forks and the token under the cursor: the inspector, the shift bar, fork / swap /
pick, and swiping between sibling branches."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from textual import on
from textual.widgets import Input

from playground.session.jobs import StreamJob
from playground.session.turns import OTHER, Turn
from playground.ui.app_shell import AppShell
from playground.ui.screens.fork import ForkChoice, ForkScreen, fork_choices
from playground.ui.widgets.inspector import TokenInspector
from playground.ui.widgets.model_pane import ModelPane
from playground.ui.widgets.shift_chart import ShiftChart


class ForkFlow(AppShell):
    """The selected token, forks at it, and the branches they make."""

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
