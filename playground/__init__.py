"""playground: a base and an aligned language model side by side.

The core (engine, templates, sampling, analysis, config) is importable without Textual; the
TUI in `playground.ui` is a thin layer over it, and so are the CLI, the tests and bench/.
"""

from __future__ import annotations

__version__ = "0.1.0"
