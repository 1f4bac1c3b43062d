"""The Textual app: a thin layer over the engine, templates, sampling and analysis."""

import os

# Textual repaints on a timer, at most TEXTUAL_FPS times a second (default 60), so a key's
# effect waits up to one period for the screen. The panes' streaming paints have their own
# slower clock (widgets/model_pane.MAX_FPS), so a shorter period only shortens that wait.
# Textual reads the variable when it is first imported.
os.environ.setdefault("TEXTUAL_FPS", "120")
