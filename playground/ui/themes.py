"""Display themes chosen outside the app: `playground serve --projector` sets
$PLAYGROUND_THEME for every session it starts, and the app applies it before its first paint.

The projector theme is for a room, not a desk: black ground, white text, saturated accents
and no dim panels, so a washed-out beamer still separates the panes, the input and the
footer's keys.
"""

from __future__ import annotations

import os
from typing import Any

from textual.app import App
from textual.theme import Theme

THEME_ENV = "PLAYGROUND_THEME"
"""Name of a Textual theme (a built-in one, or "projector") to start the app in."""

PROJECTOR = Theme(
    name="projector",
    primary="#FFD700",
    secondary="#00E5FF",
    accent="#FF9100",
    warning="#FFD700",
    error="#FF5252",
    success="#69F0AE",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#202020",
    dark=True,
    text_alpha=1.0,
    luminosity_spread=0.25,
    variables={
        "footer-key-foreground": "#FFD700",
        "input-selection-background": "#00E5FF 50%",
        "border": "#FFFFFF",
        "border-blurred": "#9E9E9E",
    },
)


def apply_theme(app: App[Any]) -> str | None:
    """Register the projector theme and switch to $PLAYGROUND_THEME if it names a theme.

    Returns:
        A message for the user when the variable names no theme, else None.
    """
    app.register_theme(PROJECTOR)
    name = os.environ.get(THEME_ENV, "").strip()
    if not name:
        return None
    if name not in app.available_themes:
        known = ", ".join(sorted(app.available_themes))
        return f"${THEME_ENV}={name!r} is not a theme; use one of: {known}"
    app.theme = name
    return None
