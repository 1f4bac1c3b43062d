"""The help screen: the keys, and what each view and colour means."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from playground.ui.keys import markdown_table

INTRO = """\
# playground

Two models, **base** (left) and **aligned** (right), answer the same input at the same time.

"""

VIEWS = """
**Raw view**: every token on its own shaded cell; special tokens in magenta, never hidden;
spaces `·`, newlines `↵`, byte tokens `<0xNN>`; the prompt's template tokens shown dimmer.

**Probability view**: once both replies finish, each token is coloured by its *shift class*
under the other model (URIAL: rank 1 unshifted green, 2-3 marginal yellow, 4+ shifted red);
until then by its own probability (green likely, red unlikely).

Conversations are saved as JSONL in the data directory as they happen.
"""

HELP = INTRO + markdown_table() + VIEWS


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; height: 90%; border: round $accent;
                                  background: $surface; }
    """
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(HELP)
