"""Every key of the app, declared once with what it does.

The app's and the panes' bindings, the footer, the F1 help, the command palette and the
README's key table all come from this one list (a test checks the README against it), so
a key added here shows up everywhere and nowhere is left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True)
class Key:
    """One key and what it does."""

    keys: str
    """Textual's key names, comma-separated ("escape", "f1", "ctrl+r")."""
    shown: str
    """The key as the help and the README write it ("Esc", "F1", "Ctrl+R")."""
    label: str
    """The footer's short word."""
    description: str
    """What it does, for the help, the palette and the README."""
    action: str | None = None
    """The action it runs; None for keys that widgets handle themselves (Enter, Tab)."""
    palette: str | None = None
    """The command palette's title for the action; None keeps it out of the palette."""
    footer: bool = True
    """Shown in the footer; the footer is one row, so only the keys a new user needs first
    (every key is in F1's help, the command palette and the README)."""
    priority: bool = False
    """Takes the key before the focused widget (the input has Ctrl+E and Ctrl+X itself)."""

    def binding(self) -> Binding:
        assert self.action is not None
        return Binding(
            self.keys,
            self.action,
            self.label,
            show=self.footer,
            priority=self.priority,
            tooltip=self.description,
            id=self.action if self.action.isidentifier() else None,
        )


APP_KEYS: tuple[Key, ...] = (
    Key("enter", "Enter", "Send", "send the input to both models", footer=False),
    Key(
        "escape",
        "Esc",
        "Stop",
        "stop both; the partial replies stay, marked stopped",
        "stop",
        "Stop generation",
    ),
    Key("f1", "F1", "Help", "this help: the keys and what the views mean", "help", "Help"),
    Key(
        "f2",
        "F2",
        "View",
        "cycle both panes' view: text, raw tokens, probability (the header says which)",
        "cycle_views",
        "Cycle views",
    ),
    Key(
        "f3",
        "F3",
        "Templates",
        "templates: pick one per model, see the rendered prompt "
        "and its tokens under the model and tiktoken",
        "templates",
        "Templates",
    ),
    Key(
        "f4",
        "F4",
        "Sampling",
        "sampling: per-model settings, tricks and presets (yours from models.toml too), live",
        "sampling",
        "Sampling",
    ),
    Key(
        "f5",
        "F5",
        "Models",
        "models: pick and load a model per side, see GPU offload",
        "models",
        "Models",
    ),
    Key(
        "f6",
        "F6",
        "Chat/Doc",
        "chat mode (each model through its template) / document "
        "mode (one raw text both continue; an empty Enter continues it)",
        "toggle_mode",
        "Chat / document mode",
    ),
    Key(
        "f7",
        "F7",
        "Inspector",
        "show or hide the token inspector",
        "toggle_inspector",
        "Toggle inspector",
        footer=False,  # the footer is one row: at 120 columns it ran over the palette's key
    ),
    Key(
        "f8",
        "F8",
        "URIAL",
        "the URIAL in-context prompt for the base model, on or off (the header says which)",
        "toggle_urial",
        "URIAL prompt",
    ),
    Key(
        "f9",
        "F9",
        "Lessons",
        "the lessons: the course's six experiments, run live on the loaded pair (`l` switches "
        "中文/English)",
        "lessons",
        "Lessons",
    ),
    Key(
        "ctrl+r",
        "Ctrl+R",
        "Regen",
        "regenerate: both last replies again, as new branches (the old ones stay, a swipe away)",
        "regenerate",
        "Regenerate",
        footer=False,
    ),
    Key(
        "ctrl+f",
        "Ctrl+F",
        "Fork",
        "fork at the selected token: put any alternative from either model's top-k (or a "
        "token you type) there, and the model goes on from it",
        "fork_here",
        "Fork here…",
        footer=False,
    ),
    Key(
        "ctrl+e",
        "Ctrl+E",
        "Edit",
        "edit the last message: it goes back into the input",
        "edit_last",
        "Edit last message",
        footer=False,
        priority=True,
    ),
    Key(
        "ctrl+l",
        "Ctrl+L",
        "Clear",
        "clear both panes (the file keeps the history)",
        "clear",
        "Clear conversation",
        footer=False,
    ),
    Key(
        "ctrl+n",
        "Ctrl+N",
        "New",
        "start a new conversation file",
        "new_conversation",
        "New conversation",
        footer=False,
    ),
    Key(
        "ctrl+o",
        "Ctrl+O",
        "Resume",
        "resume the last saved conversation",
        "resume",
        "Resume last conversation",
        footer=False,
    ),
    Key(
        "ctrl+x",
        "Ctrl+X",
        "Export",
        "export Markdown and the HTML shift report",
        "export",
        "Export",
        footer=False,
        priority=True,
    ),
    Key(
        "ctrl+s",
        "Ctrl+S",
        "SVG",
        "save an SVG screenshot",
        "save_svg",
        "Screenshot (SVG)",
        footer=False,
    ),
    Key("ctrl+p", "Ctrl+P", "Palette", "the command palette: every action by name", footer=False),
    Key("ctrl+q", "Ctrl+Q", "Quit", "quit (the conversation is already saved)", "quit"),
)
"""The main screen's keys, in the order the help and the README list them."""

PANE_KEYS: tuple[Key, ...] = (
    Key("tab", "Tab", "Focus", "move between the input and the panes", footer=False),
    Key("v", "v (in a pane)", "View", "cycle this pane's view", "cycle_view", footer=False),
    Key(
        "left",
        "← (in a pane)",
        "Prev",
        "select the previous token; the inspector shows both models' top-k",
        "move(-1)",
        footer=False,
    ),
    Key("right", "→ (in a pane)", "Next", "select the next token", "move(1)", footer=False),
    Key("home", "Home (in a pane)", "First", "select the first token", "jump(0)", footer=False),
    Key("end", "End (in a pane)", "Last", "select the last token", "jump(-1)", footer=False),
    Key(
        "f",
        "f (in a pane)",
        "Fork here",
        "fork at the selected token, as Ctrl+F (a click on an alternative in the inspector "
        "forks with it too)",
        "app.fork_here",
        footer=False,
    ),
    Key(
        "s",
        "s (in a pane)",
        "Swap token",
        "swap: give this model the other model's token at this position and let it go on "
        "(re-tokenized, and said so, when the vocabularies differ)",
        "app.swap",
        "Swap token",
        footer=False,
    ),
    Key(
        "left_square_bracket",
        "[ (in a pane)",
        "Prev branch",
        "the previous branch of that turn (a swipe)",
        "branch(-1)",
        footer=False,
    ),
    Key(
        "right_square_bracket",
        "] (in a pane)",
        "Next branch",
        "the next branch of that turn",
        "branch(1)",
        footer=False,
    ),
)
"""A focused pane's own keys (a click on a token selects it too)."""

ALL_KEYS = APP_KEYS + PANE_KEYS


def bindings(keys: tuple[Key, ...]) -> list[BindingType]:
    """The Textual bindings of the keys that run an action."""
    return [k.binding() for k in keys if k.action is not None]


PALETTE_ONLY: tuple[tuple[str, str, str], ...] = (
    ("Previous branch", "Show the previous sibling of the selected turn", "previous_branch"),
    ("Next branch", "Show the next sibling of the selected turn", "next_branch"),
)
"""Palette commands whose keys live in a pane (`[`, `]`) and act on the selected turn."""


def palette_commands() -> list[tuple[str, str, str]]:
    """(title, description, action) of every command the palette offers, as app actions."""
    keyed = [
        (k.palette, f"{k.shown}: {k.description}", k.action.removeprefix("app."))
        for k in ALL_KEYS
        if k.palette is not None and k.action is not None
    ]
    return keyed + list(PALETTE_ONLY)


def markdown_table() -> str:
    """The key table, as the help screen and the README show it."""
    rows = ["| key | does |", "|---|---|"]
    rows.extend(f"| {k.shown} | {k.description} |" for k in ALL_KEYS)
    return "\n".join(rows) + "\n"
