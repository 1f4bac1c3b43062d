"""The help screen: the keys, and what each view and colour means."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# playground

Two models, **base** (left) and **aligned** (right), answer the same input at the same time.

| Key | Does |
|---|---|
| Enter | send the input to both models |
| Esc | stop both; the partial replies stay, marked *stopped* |
| F2 / `v` in a pane | cycle views: text, raw tokens, probability |
| Tab | move between the input and the panes |
| ← → Home End (in a pane) | select a token; the inspector shows it (or click it) |
| F3 / F4 / F5 | templates, sampling, models panels |
| F6 | chat / document mode (a message adds to one raw text both continue; empty Enter continues) |
| F7 | show or hide the inspector |
| F9 | lessons: the course's six experiments, run live on this pair (`l` switches 中文/English) |
| Ctrl+R / Ctrl+E | regenerate / edit the last message |
| Ctrl+L / Ctrl+N / Ctrl+O | clear / new conversation / resume the last one |
| Ctrl+X / Ctrl+S | export Markdown (+ HTML report) / SVG screenshot |
| Ctrl+P | command palette |
| Ctrl+Q | quit |

**Raw view**: every token on its own shaded cell; special tokens in magenta, never hidden;
spaces `·`, newlines `↵`, byte tokens `<0xNN>`; the prompt's template tokens shown dimmer.

**Probability view**: once both replies finish, each token is coloured by its *shift class*
under the other model (URIAL: rank 1 unshifted green, 2-3 marginal yellow, 4+ shifted red);
until then by its own probability (green likely, red unlikely).

Conversations are saved as JSONL in the data directory as they happen.
"""


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
