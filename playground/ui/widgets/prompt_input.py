"""The message input: Textual's Input, keeping the invisible joiners that typed text needs.

A terminal delivers a typed emoji sequence such as 👩‍💻 as one key per code point. Textual's
Input drops any key whose character is not `str.isprintable()`, and the zero-width joiner
(U+200D) between the two emoji is a format character (category Cf), so the sequence arrived
as two separate emoji. Pasted text never had the problem: a paste skips the key path.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from textual import events
from textual.widgets import Input


def typed_text(event: events.Key) -> str | None:
    """The text a key types: printable characters, plus format characters (ZWJ, ZWNJ,
    emoji tag characters) that join or modify their neighbours; None for other keys."""
    ch = event.character
    if not ch:
        return None
    if event.is_printable:
        return ch
    if all(unicodedata.category(c) == "Cf" for c in ch):
        return ch
    return None


class PromptInput(Input):
    """Input that keeps typed zero-width joiners and other format characters.

    Focusing it does not select its text: keys typed while a pane had focus are handed
    over here one by one, and a selection would make each replace the one before.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("select_on_focus", False)
        super().__init__(*args, **kwargs)

    async def _on_key(self, event: events.Key) -> None:
        text = typed_text(event)
        if text is not None and not event.is_printable:
            event.stop()
            event.prevent_default()
            selection = self.selection
            if selection.is_empty:
                self.insert_text_at_cursor(text)
            else:
                self.replace(text, *selection)
            return
        await super()._on_key(event)
