"""The panes' data comes from the session core; the UI names it from here.

`playground.session.turns` owns what a turn is (the core's conversation tree is made of
them); the widgets and screens import these names from this module so they depend on one
place in the UI layer.
"""

from playground.session.turns import (
    SIDES,
    ForcedToken,
    OtherView,
    PromptToken,
    SideTranscript,
    Turn,
)

__all__ = ["SIDES", "ForcedToken", "OtherView", "PromptToken", "SideTranscript", "Turn"]
