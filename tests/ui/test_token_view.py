"""The pane body on its own, in a tiny host app: what a reader sees while a reply streams.

The transcript is fed by hand, a batch of tokens at a time, as the app's frames do; no model
runs, so each step is exact.
"""

from __future__ import annotations

from textual.app import App, ComposeResult

from playground.session.turns import SideTranscript, Turn
from playground.ui.widgets.token_view import TokenView
from tests.ui.conftest import text_event


class Host(App[None]):
    def __init__(self, transcript: SideTranscript) -> None:
        super().__init__()
        self.transcript = transcript

    def compose(self) -> ComposeResult:
        yield TokenView(self.transcript)


def rows(view: TokenView) -> list[str]:
    return [view.render_line(y).text.rstrip() for y in range(view.size.height)]


async def test_a_streaming_reply_stays_in_view_until_the_reader_scrolls_up() -> None:
    tr = SideTranscript("base")
    turn = Turn(user="Tell me a story", mode="chat", template="none")
    tr.turns.append(turn)
    app = Host(tr)
    async with app.run_test(size=(30, 8)) as pilot:
        view = app.query_one(TokenView)
        n = 0
        for batch in range(20):
            for _ in range(8):
                turn.events.append(text_event(n, f" w{n}"))
                n += 1
            view.update_lines()
            await pilot.pause()
            # the newest word is on screen while the reply grows past the pane
            assert f"w{n - 1}" in " ".join(rows(view)), batch
        assert len(view.lines) > 2 * view.size.height
        # the reader scrolls up: new text no longer pulls the view down
        view.scroll_to(y=0, animate=False)
        await pilot.pause()
        turn.events.append(text_event(n, " newest"))
        view.update_lines()
        await pilot.pause()
        assert "Tell me a story" in rows(view)[0]
        assert "newest" not in " ".join(rows(view))
        # back at the end, it follows again, and a finished reply ends at the bottom
        view.scroll_end(animate=False)
        await pilot.pause()
        turn.events.append(text_event(n + 1, " last"))
        turn.reason = "eog"
        view.update_lines()
        await pilot.pause()
        assert rows(view)[-1].endswith("last")
