"""The conversation actions behind the keys and the command palette: views, modes,
regenerate / edit / clear / new / resume, saving and exporting, and the panels."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from textual.widgets import Input

from playground.session.turns import SIDES
from playground.ui import exports
from playground.ui.app_turns import TurnFlow, stats_line
from playground.ui.conversation_store import (
    DATA_DIR_ENV,
    ConversationFile,
    data_dir,
    describe_os_error,
    latest_conversation,
    read_log,
)
from playground.ui.widgets.inspector import TokenInspector
from playground.ui.widgets.shift_chart import ShiftChart

CHAT_PLACEHOLDER = "Message both models (Enter sends, Esc stops)"
DOCUMENT_PLACEHOLDER = "Add to the document (Enter; empty Enter continues it, Ctrl+L starts anew)"


class ConversationActions(TurnFlow):
    """Every action a key or the palette names that is not about forks."""

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
